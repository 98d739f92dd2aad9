"""Training under torchrun with DistributedDataParallel: 2 CPU processes (gloo) on tiny data."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("fluidsynth")

from conftest_models import tiny_data  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def test_torchrun_two_processes(tmp_path):
    import torch

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "models.train", "--task", "separate", "--steps", "3", "--data", str(tiny_data("separate")),
           "--out", str(out), "--preset", "tiny", "--batch", "2", "--log-every", "1", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    r = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=150, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("trained separate to step 3") == 1  # rank 0 alone reports
    ck = torch.load(out / "ckpt_last.pt", weights_only=True)
    summary = json.loads(ck["summary"])
    assert ck["step"] == 3 and summary["world_size"] == 2 and summary["device"] == "cpu"
    assert not any(k.startswith("module.") for k in ck["G"])  # saved unwrapped: exportable as is
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
