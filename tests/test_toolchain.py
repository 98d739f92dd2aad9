"""Data rendering and training: determinism, the test split, resume, bad input."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("fluidsynth")

from conftest_models import ROOT, SECONDS, tiny_data, train_args  # noqa: E402

from models import data as D  # noqa: E402
from models.split import is_test  # noqa: E402
from streamproc import dsp  # noqa: E402
from streamproc.config import DEFAULT  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def _load(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


@pytest.mark.parametrize("task", D.TASKS)
def test_render_shapes_and_ranges(task):
    root = tiny_data(task)
    m = json.loads((root / "manifest.json").read_text())
    assert m["task"] == task and m["split"] == "train" and m["soundfonts"] == ["TimGM6mb"]
    assert not any(is_test(w) for w in m["works"])
    frames = dsp.n_frames_for(int(SECONDS * 16000), DEFAULT)
    rows_in, rows_out = D.task_rows(task)
    for i in range(m["n_examples"]):
        z = _load(root / f"ex_{i:06d}.npz")
        assert z["x"].dtype == np.float32 and z["y"].dtype == np.float32
        assert z["x"].shape == (rows_in, frames) and z["y"].shape == (rows_out, frames)
        assert z["x"].min() >= -1 and z["x"].max() <= 1 and z["y"].min() >= -1 and z["y"].max() <= 1
        assert z["x"].max() > -0.9  # something audible was rendered
        info = json.loads(str(z["info"]))
        assert info["task"] == task and info["soundfont"] == "TimGM6mb"


def test_render_is_deterministic_and_extends(tmp_path):
    a = tiny_data("separate")
    D.build("separate", 3 * SECONDS / 60.0, tmp_path, ["TimGM6mb"], seed=0, seconds=SECONDS, progress=False)
    for i in range(2):
        za, zb = _load(a / f"ex_{i:06d}.npz"), _load(tmp_path / f"ex_{i:06d}.npz")
        assert np.array_equal(za["x"], zb["x"]) and np.array_equal(za["y"], zb["y"])
    assert (tmp_path / "ex_000002.npz").exists()
    with pytest.raises(ValueError, match="different data set"):
        D.build("separate", 0.05, tmp_path, ["TimGM6mb"], seed=1, seconds=SECONDS, progress=False)


def test_separate_target_is_the_violin_stem_inside_the_mix():
    z = _load(tiny_data("separate") / "ex_000000.npz")
    # the stem's energy never exceeds the mix's by much (log-mel of a sum of two stems)
    assert np.mean(z["y"] <= z["x"] + 0.05) > 0.9


def test_pitch_map_layout():
    notes = np.array([[0.0, 0.5, 69.0], [0.5, 1.0, 69.5]])
    pm = D.pitch_map(notes, 80)
    centres = D.frame_centres(80) / 16000
    on = np.argwhere(pm > 0)
    assert set(on[:, 0]) == {D.LAYOUT.row(69), D.LAYOUT.row(69.5)}
    for b, k in on:
        t = centres[k]
        assert (0 <= t < 0.5) if b == 66 else (0.5 <= t < 1.0)
    z = _load(tiny_data("pitch") / "ex_000000.npz")
    assert set(np.unique(z["y"])) <= {-1.0, 1.0}
    assert (z["y"] > 0).sum(axis=0).max() == 1  # monophonic: at most one pitch per frame


def test_split_rule_is_enforced(tmp_path):
    from models.render import corpus_works

    train, test = corpus_works("train"), corpus_works("test")
    assert train and test and not set(train) & set(test)
    assert all(is_test(w) for w in test) and not any(is_test(w) for w in train)
    test_set = tmp_path / "test"
    D.build("pitch", SECONDS / 60.0, test_set, ["TimGM6mb"], split="test", seconds=SECONDS, progress=False)
    z = _load(test_set / "ex_000000.npz")
    assert is_test(json.loads(str(z["info"]))["work"])
    with pytest.raises(ValueError, match="test-split"):
        D.PairedFrames(test_set)
    other = tmp_path / "Other.sf2"
    other.write_bytes(b"RIFF")
    with pytest.raises(ValueError, match="reserved for evaluation"):
        D.build("pitch", 0.05, tmp_path / "x", [str(other)], progress=False)


def test_paired_frames_batches():
    ds = D.PairedFrames(tiny_data("synth"))
    xb, yb = ds.batch(np.random.default_rng(0), 3, 64)
    assert xb.shape == (3, 1, 128, 64) and yb.shape == (3, 1, 128, 64)
    xb2, _ = ds.batch(np.random.default_rng(0), 3, 64)
    assert np.array_equal(xb, xb2)


def _cli(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("args", [
    ["--task", "separate", "--minutes", "0", "--out", "OUT"],
    ["--task", "separate", "--minutes", "1", "--out", "OUT", "--soundfont", "/nonexistent/x.sf2"],
])
def test_data_cli_bad_input(args, tmp_path):
    r = _cli("models.data", *[str(tmp_path / "o") if a == "OUT" else a for a in args])
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and r.stderr.startswith("error:")


def test_train_resume_matches_uninterrupted_run(tmp_path):
    import torch

    from models.train import main

    data = tiny_data("separate")
    assert main(train_args("separate", data, tmp_path / "a", 4)) == 0
    assert main(train_args("separate", data, tmp_path / "b", 2)) == 0
    assert main(train_args("separate", data, tmp_path / "b", 4, "--resume")) == 0
    a = torch.load(tmp_path / "a" / "ckpt_last.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "ckpt_last.pt", weights_only=True)
    assert a["step"] == b["step"] == 4
    for k in a["G"]:
        assert torch.equal(a["G"][k], b["G"][k]), k
    rows = [json.loads(line) for line in (tmp_path / "b" / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert all("loss_l1" in r and "loss_d" in r and r["examples_per_s"] > 0 for r in rows)
    summary = json.loads(b["summary"])
    assert summary["steps"] == 4 and summary["soundfonts"] == ["TimGM6mb"] and summary["n_works"] >= 1


def test_l1_baseline_trains(tmp_path):
    from models.train import main

    assert main(train_args("pitch", tiny_data("pitch"), tmp_path, 2, "--loss", "l1")) == 0
    rows = [json.loads(x) for x in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert "loss_d" not in rows[-1] and rows[-1]["loss_l1"] > 0


@pytest.mark.parametrize("case", ["wrong_task", "no_data", "bad_net", "exists"])
def test_train_cli_bad_input(case, tmp_path):
    data = str(tiny_data("separate"))
    args = {"wrong_task": ["--task", "pitch", "--data", data],
            "no_data": ["--task", "separate", "--data", str(tmp_path / "missing")],
            "bad_net": ["--task", "separate", "--data", data, "--net", '{"depth": 9}'],
            "exists": ["--task", "separate", "--data", data]}[case]
    out = tmp_path / "run"
    if case == "exists":
        out.mkdir()
        (out / "ckpt_last.pt").write_bytes(b"x")
    r = _cli("models.train", *args, "--steps", "1", "--out", str(out), "--preset", "tiny", "--quiet")
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and r.stderr.strip().count("\n") == 0, r.stderr
