"""Tiny data sets, runs and exported models shared by the toolchain tests.

Built once per test session (memoised here, because fixtures imported into two test modules
would otherwise be built twice) in a temporary folder removed at exit.
"""
from __future__ import annotations

import atexit
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

ROOT = Path(tempfile.mkdtemp(prefix="streamproc-toolchain-"))
atexit.register(shutil.rmtree, ROOT, ignore_errors=True)

SECONDS = 2.0  # one example; windows are 64 frames = 1.02 s


def tiny_data(task: str, n_examples: int = 2, seed: int = 0) -> Path:
    return _tiny_data(task, n_examples, seed)


@lru_cache(maxsize=None)
def _tiny_data(task: str, n_examples: int, seed: int) -> Path:
    from models.data import build

    out = ROOT / f"data-{task}-{n_examples}-{seed}"
    build(task, n_examples * SECONDS / 60.0, out, soundfonts=["TimGM6mb"], seed=seed, seconds=SECONDS,
          jobs=1, progress=False)
    return out


def train_args(task: str, data: Path, out: Path, steps: int, *extra: str) -> list[str]:
    return ["--task", task, "--steps", str(steps), "--data", str(data), "--out", str(out), "--preset", "tiny",
            "--batch", "2", "--log-every", "1", "--ckpt-every", "2", "--quiet", *extra]


def tiny_run(task: str, loss: str = "gan", steps: int = 3) -> Path:
    """Run folder of a few training steps; returns the checkpoint path."""
    return _tiny_run(task, loss, steps)


@lru_cache(maxsize=None)
def _tiny_run(task: str, loss: str, steps: int) -> Path:
    from models.train import main

    out = ROOT / f"run-{task}-{loss}-{steps}"
    assert main(train_args(task, tiny_data(task), out, steps, "--loss", loss)) == 0
    return out / "ckpt_last.pt"


def tiny_onnx(task: str, loss: str = "gan") -> Path:
    return _tiny_onnx(task, loss)


@lru_cache(maxsize=None)
def _tiny_onnx(task: str, loss: str) -> Path:
    from export.onnx import export

    out = ROOT / f"{task}-{loss}.onnx"
    export(tiny_run(task, loss), out, data=tiny_data(task))
    return out
