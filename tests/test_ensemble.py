"""export.ensemble: several exported models of one task averaged in one ONNX file that the
runtime opens like any other."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from export.ensemble import EnsembleError, build  # noqa: E402
from streamproc.onnx_model import MODELS_DIR, load_model, read_metadata  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
PITCH = MODELS_DIR / "pitch.onnx"


def _scaled_copy(src: Path, dst: Path, factor: float) -> Path:
    """Another member with the same metadata: every float weight of ``src`` times ``factor``."""
    from onnx import numpy_helper

    m = onnx.load(str(src))
    for init in m.graph.initializer:
        a = numpy_helper.to_array(init)
        if a.dtype == np.float32:
            init.CopyFrom(numpy_helper.from_array(a * np.float32(factor), init.name))
    onnx.save(m, str(dst))
    return dst


def _run(path: Path, x: np.ndarray) -> np.ndarray:
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def test_the_ensemble_outputs_the_mean_of_its_members_and_loads_as_a_model(tmp_path):
    other = _scaled_copy(PITCH, tmp_path / "other.onnx", 0.9)
    out = tmp_path / "ens.onnx"
    r = subprocess.run([sys.executable, "-m", "export.ensemble", str(PITCH), str(other), str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    shape = [d.dim_value or 1 for d in onnx.load(str(PITCH)).graph.input[0].type.tensor_type.shape.dim]
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    a, b, e = _run(PITCH, x), _run(other, x), _run(out, x)
    assert not np.allclose(a, b)   # the members really differ
    np.testing.assert_allclose(e, (a + b) / 2, atol=1e-5)
    md, first = read_metadata(out), read_metadata(PITCH)
    assert {k: v for k, v in md.items() if k != "members"} == first
    assert [m["file"] for m in json.loads(md["members"])] == ["pitch.onnx", "other.onnx"]
    m = load_model(out, task="pitch")
    assert m.n_inputs == int(first["n_inputs"])


def test_members_that_the_runtime_would_read_differently_are_refused():
    with pytest.raises(EnsembleError, match="context_frames|lookahead_frames"):
        build([PITCH, MODELS_DIR / "pitch-live.onnx"])
    with pytest.raises(EnsembleError, match="task"):
        build([PITCH, MODELS_DIR / "synth.onnx"])
    with pytest.raises(EnsembleError, match="at least two"):
        build([PITCH])


def test_cli_errors_are_one_line_and_never_overwrite_a_member(tmp_path):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not a model")
    for args in ([str(PITCH), str(garbage), str(tmp_path / "o.onnx")],
                 [str(PITCH), str(tmp_path / "missing.onnx"), str(tmp_path / "o.onnx")]):
        r = subprocess.run([sys.executable, "-m", "export.ensemble", *args], cwd=REPO, capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 2 and r.stderr.startswith("error:") and len(r.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "o.onnx").exists()
    copy = _scaled_copy(PITCH, tmp_path / "m.onnx", 1.0)
    before = copy.read_bytes()
    r = subprocess.run([sys.executable, "-m", "export.ensemble", str(PITCH), str(copy), str(copy)], cwd=REPO,
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "overwrite" in r.stderr and copy.read_bytes() == before


def test_members_exported_at_different_opsets_are_refused(tmp_path):
    m = onnx.load(str(PITCH))
    m.opset_import[0].version -= 1
    older = tmp_path / "older.onnx"
    onnx.save(m, str(older))
    with pytest.raises(EnsembleError, match="opsets"):
        build([PITCH, older])


def test_weight_average_is_one_network_between_its_members(tmp_path):
    """--weights: the same graph and size as a member, every weight the members' mean (so scaling
    one member by 0.8 gives weights at 0.9), the members recorded, and it loads as a model."""
    other = _scaled_copy(PITCH, tmp_path / "other.onnx", 0.8)
    out = tmp_path / "avg.onnx"
    r = subprocess.run([sys.executable, "-m", "export.ensemble", "--weights", str(PITCH), str(other), str(out)],
                       cwd=REPO, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    from onnx import numpy_helper

    src, avg = onnx.load(str(PITCH)), onnx.load(str(out))
    assert [n.op_type for n in avg.graph.node] == [n.op_type for n in src.graph.node]
    for a, b in zip(src.graph.initializer, avg.graph.initializer):
        x, y = numpy_helper.to_array(a), numpy_helper.to_array(b)
        if x.dtype == np.float32:
            np.testing.assert_allclose(y, 0.9 * x, rtol=1e-5, atol=1e-7)
    md = read_metadata(out)
    assert [m["file"] for m in json.loads(md["weights_averaged_from"])] == ["pitch.onnx", "other.onnx"]
    assert load_model(out, task="pitch").n_inputs == int(read_metadata(PITCH)["n_inputs"])


def test_weight_average_refuses_members_that_are_not_one_network(tmp_path):
    from export.ensemble import build_weight_average

    with pytest.raises(EnsembleError, match="not the same network|differs from"):
        build_weight_average([PITCH, MODELS_DIR / "pitch-live.onnx"])
    r = subprocess.run([sys.executable, "-m", "export.ensemble", "--weights", str(PITCH), str(tmp_path / "x.onnx")],
                       cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "two or more members" in r.stderr


def test_an_ensemble_may_hold_a_weight_average_and_records_it_per_member(tmp_path):
    """A weight-averaged file and a plain one differ only in how each was made: they combine,
    and the averaging is recorded on its member, not claimed for the whole ensemble."""
    from export.ensemble import build_weight_average

    other = _scaled_copy(PITCH, tmp_path / "other.onnx", 0.8)
    averaged = tmp_path / "avg.onnx"
    averaged.write_bytes(build_weight_average([PITCH, other]).SerializeToString())
    md = {p.key: p.value for p in build([averaged, PITCH]).metadata_props}
    assert "weights_averaged_from" not in md
    members = json.loads(md["members"])
    assert [m["file"] for m in members] == ["avg.onnx", "pitch.onnx"]
    assert [m["file"] for m in members[0]["weights_averaged_from"]] == ["pitch.onnx", "other.onnx"]
    assert "weights_averaged_from" not in members[1]
