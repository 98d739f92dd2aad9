"""Distillation (models.teacher, models.train --teacher): a shipped model's output on each
training window blended into the target."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("fluidsynth")

from conftest_models import tiny_data, tiny_onnx, tiny_run, train_args  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _teacher(share: float, lead: int):
    from models.teacher import Teacher

    return Teacher(tiny_onnx("separate"), "separate", 128, 128, 64, share, lead)


@pytest.mark.parametrize("lead", [0, 16])
def test_blend_mixes_the_teacher_output_seen_lead_frames_later(lead):
    import onnxruntime as ort

    from models.data import PairedFrames

    x, y = PairedFrames(tiny_data("separate")).batch(np.random.default_rng(3), 2, 64 + lead)
    y = np.ascontiguousarray(y[..., :64])
    out = _teacher(0.25, lead).blend(x, y)
    s = ort.InferenceSession(str(tiny_onnx("separate")), providers=["CPUExecutionProvider"])
    for i in range(2):
        t = s.run(None, {"features": np.ascontiguousarray(x[i, 0, :, lead:lead + 64])})[0]
        np.testing.assert_allclose(out[i, 0, :, lead:], 0.75 * y[i, 0, :, lead:] + 0.25 * t[:, :64 - lead],
                                   atol=1e-6)
        np.testing.assert_array_equal(out[i, 0, :, :lead], y[i, 0, :, :lead])   # not covered: the truth
    assert np.abs(out - y).max() > 1e-3   # the teacher moved the target: the test can fail


def test_a_run_records_its_teacher_and_resumes_exactly_only_with_it(tmp_path):
    from models.train import main

    data, init = tiny_data("separate"), str(tiny_run("separate"))
    extra = ("--teacher", str(tiny_onnx("separate")), "--teacher-share", "0.5", "--teacher-lead", "8")

    def args(out: Path, steps: int, *more: str) -> list[str]:
        a = train_args("separate", data, out, steps, "--init", init, *extra, *more)
        i = a.index("--preset")   # an --init run takes its network from the checkpoint
        return a[:i] + a[i + 2:]

    assert main(args(tmp_path / "a", 4)) == 0
    assert main(args(tmp_path / "b", 2)) == 0
    assert main(args(tmp_path / "b", 4, "--resume")) == 0
    a = torch.load(tmp_path / "a" / "ckpt_last.pt", map_location="cpu", weights_only=True)
    b = torch.load(tmp_path / "b" / "ckpt_last.pt", map_location="cpu", weights_only=True)
    for k in a["G"]:
        assert torch.equal(a["G"][k], b["G"][k]), k
    assert json.loads(a["summary"])["teacher"] == {"file": tiny_onnx("separate").name, "share": 0.5, "lead": 8}
    # the same run resumed with another share is refused before any step
    other = [v if v != "0.5" else "0.9" for v in args(tmp_path / "b", 6, "--resume")]
    r = subprocess.run([sys.executable, "-m", "models.train", *other], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "trained with teacher" in r.stderr, r.stderr


@pytest.mark.parametrize("case", ["share_zero", "share_big", "lead", "task", "missing"])
def test_bad_teacher_is_refused_before_training(case, tmp_path):
    extra = {"share_zero": ["--teacher", str(tiny_onnx("separate")), "--teacher-share", "0"],
             "share_big": ["--teacher", str(tiny_onnx("separate")), "--teacher-share", "1.5"],
             "lead": ["--teacher", str(tiny_onnx("separate")), "--teacher-lead", "64"],
             "task": ["--teacher", str(tiny_onnx("superres"))],
             "missing": ["--teacher", str(tmp_path / "none.onnx")]}[case]
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "models.train", *train_args("separate", tiny_data("separate"), out, 1),
                        *extra], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "error: " in r.stderr.strip().splitlines()[-1], r.stderr
    assert not (out / "ckpt_last.pt").exists()
