"""Export to ONNX, parity with PyTorch, and the runtime loader (OnnxFrameModel / load_model)."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from conftest_models import tiny_data, tiny_onnx, tiny_run  # noqa: E402

from streamproc.config import DEFAULT, LOW_LATENCY  # noqa: E402
from streamproc.errors import UserError  # noqa: E402
from streamproc.frame_model import FrameModel  # noqa: E402
from streamproc.onnx_model import OnnxFrameModel, list_models, load_model, read_metadata  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SPECTRAL_KEYS = ("sample_rate", "n_fft", "hop", "n_mels", "fmin", "fmax", "db_floor", "db_ceil")


def _cli(module: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.parametrize("task,kind", [("separate", "mel"), ("pitch", "pitchmap"), ("restore", "linear")])
def test_export_metadata_and_checker(task, kind):
    path = tiny_onnx(task)
    proto = onnx.load(str(path))
    onnx.checker.check_model(proto, full_check=True)
    assert max(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")) >= 17
    md = {p.key: p.value for p in proto.metadata_props}
    assert md["task"] == task and md["output_kind"] == kind
    for k in SPECTRAL_KEYS:
        assert float(md[k]) == float(getattr(DEFAULT, k))
    width = int(md["context_frames"]) + int(md["new_frames"]) + int(md["lookahead_frames"])
    assert width == 64
    net = json.loads(md["network"])
    assert net["task"] == task and net["ngf"] == 8
    train = json.loads(md["training"])
    assert train["steps"] == 3 and train["soundfonts"] == ["TimGM6mb"] and train["works"]
    assert train["data_minutes"] > 0 and train["wall_seconds"] > 0
    if task == "pitch":
        assert (md["pitch_min_midi"], md["bins_per_semitone"], md["n_pitch_bins"]) == ("36.0", "2", "128")
    assert read_metadata(path) == md  # what onnxruntime reads agrees with the onnx package
    assert path.stat().st_size < 8e6


@pytest.mark.parametrize("task", ["separate", "restore"])
def test_parity_torch_vs_onnxruntime(task):
    import torch

    from export.onnx import _Window, load_generator
    from models.data import PairedFrames

    model = _Window.wrap(load_generator(tiny_run(task))[0])
    m = load_model(tiny_onnx(task), task=task)
    rng = np.random.default_rng(1)
    xb, _ = PairedFrames(tiny_data(task)).batch(rng, 2, 64)
    windows = [rng.uniform(-1, 1, (m.n_inputs, 64)).astype(np.float32) for _ in range(2)] + [w[0] for w in xb]
    with torch.no_grad():
        for w in windows:
            ref = model(torch.from_numpy(w)).numpy()
            got = m.run(w)
            assert got.dtype == np.float32 and got.shape == (m.n_outputs, 64)
            assert np.max(np.abs(ref - got)) <= 1e-4


def test_frame_model_protocol_and_runtime_has_no_torch():
    path = tiny_onnx("pitch")
    m = load_model(path, task="pitch", sample_rate=16000, cfg=DEFAULT)
    assert isinstance(m, FrameModel) and isinstance(m, OnnxFrameModel)
    assert (m.context_frames, m.new_frames, m.lookahead_frames) == (40, 8, 16)
    assert (m.n_inputs, m.n_outputs, m.output_kind, m.task) == (128, 128, "pitchmap", "pitch")
    assert m.pitch_layout["n_pitch_bins"] == 128 and m.metadata["task"] == "pitch"
    with pytest.raises(ValueError, match="window"):
        m.run(np.zeros((128, 63), np.float32))
    assert load_model(path) is not m and load_model(path)._sess is m._sess  # session reuse
    code = ("import sys, numpy as np; from streamproc.onnx_model import load_model; "
            f"m = load_model({str(path)!r}); y = m.run(np.zeros((128, 64), np.float32)); "
            "assert y.shape == (128, 64); assert 'torch' not in sys.modules, 'runtime imported torch'")
    r = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr


def _with_metadata(src: Path, dst: Path, **changes: str | None) -> Path:
    proto = onnx.load(str(src))
    md = {p.key: p.value for p in proto.metadata_props}
    for k, v in changes.items():
        if v is None:
            md.pop(k, None)
        else:
            md[k] = v
    del proto.metadata_props[:]
    for k, v in md.items():
        e = proto.metadata_props.add()
        e.key, e.value = k, v
    onnx.save(proto, str(dst))
    return dst


def test_load_model_bad_inputs(tmp_path):
    good = tiny_onnx("separate")
    bare = onnx.helper.make_model(onnx.helper.make_graph(
        [onnx.helper.make_node("Identity", ["x"], ["y"])], "g",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])]))
    onnx.save(bare, str(tmp_path / "bare.onnx"))
    (tmp_path / "trunc.onnx").write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    (tmp_path / "text.onnx").write_text("hello, this is not a model\n")
    shutil.copy(tiny_run("separate"), tmp_path / "ckpt.onnx")
    _with_metadata(good, tmp_path / "rate.onnx", sample_rate="22050")
    _with_metadata(good, tmp_path / "partial.onnx", new_frames=None)
    cases = {
        tmp_path / "missing.onnx": ({}, "not found"),
        tmp_path: ({}, "folder"),
        tmp_path / "trunc.onnx": ({}, "not an ONNX model"),
        tmp_path / "text.onnx": ({}, "not an ONNX model"),
        tmp_path / "ckpt.onnx": ({}, "not an ONNX model"),
        tmp_path / "bare.onnx": ({}, "without streamproc model metadata"),
        tmp_path / "partial.onnx": ({}, "new_frames"),
        tmp_path / "rate.onnx": ({}, "22050 Hz"),
        good: ({"task": "pitch"}, "'separate' model, not 'pitch'"),
        good.with_name(good.name): ({"cfg": LOW_LATENCY}, "n_fft"),
    }
    for path, (kw, msg) in cases.items():
        with pytest.raises(UserError, match=msg) as e:
            load_model(path, **kw)
        assert "\n" not in str(e.value)


def test_list_models(tmp_path):
    shutil.copy(tiny_onnx("separate"), tmp_path / "sep.onnx")
    (tmp_path / "sub").mkdir()
    shutil.copy(tiny_onnx("pitch"), tmp_path / "sub" / "pitch.onnx")
    (tmp_path / "broken.onnx").write_bytes(b"\x00\x01garbage")
    rows = {Path(r["path"]).name: r for r in list_models([tmp_path])}
    assert rows["sep.onnx"]["task"] == "separate" and rows["sep.onnx"]["window"] == [40, 8, 16]
    assert rows["pitch.onnx"]["output_kind"] == "pitchmap" and rows["pitch.onnx"]["steps"] == 3
    assert "error" in rows["broken.onnx"]
    assert all(isinstance(r, dict) for r in list_models())  # package folder alone


def test_export_cli(tmp_path):
    ck = str(tiny_run("separate"))
    r = _cli("export.onnx", ck, str(tmp_path / "m.onnx"), "--data", str(tiny_data("separate")))
    assert r.returncode == 0, r.stderr
    assert "parity" in r.stdout and (tmp_path / "m.onnx").exists()
    bad = {
        "other_config": [ck, str(tmp_path / "x.onnx"), "--net", '{"ngf": 16}'],
        "not_a_checkpoint": [str(tmp_path / "m.onnx"), str(tmp_path / "x.onnx")],
        "missing": [str(tmp_path / "nope.pt"), str(tmp_path / "x.onnx")],
        "bad_suffix": [ck, str(tmp_path / "x.bin")],
    }
    for name, args in bad.items():
        r = _cli("export.onnx", *args)
        assert r.returncode == 2, (name, r.stderr)
        assert r.stderr.startswith("error:") and r.stderr.strip().count("\n") == 0, (name, r.stderr)
    assert not (tmp_path / "x.onnx").exists()


def test_processor_renders_a_clip_through_the_model():
    """End-to-end: an exported model inside the engine."""
    import streamproc

    fx = streamproc.Processor(task="separate", recon="gla", model=str(tiny_onnx("separate")))
    rng = np.random.default_rng(0)
    x = (0.1 * rng.standard_normal(24000)).astype(np.float32)
    y = fx.process(x, 16000, reset=True)
    assert y.shape == x.shape and np.all(np.isfinite(y))
    y2 = fx.process(x, 16000, reset=True)
    assert np.array_equal(y, y2)


def test_onnx_model_inside_the_engine_chunker():
    """An OnnxFrameModel object drives the engine's chunker (mel -> mel, via the resynth path)."""
    import streamproc

    m = load_model(tiny_onnx("separate"), task="separate")
    fx = streamproc.Processor(task="resynth", model=m)
    x = (0.1 * np.random.default_rng(0).standard_normal(20000)).astype(np.float32)
    y = fx.process(x, 16000, reset=True)
    assert y.shape == x.shape and np.all(np.isfinite(y))
    assert np.array_equal(y, fx.process(x, 16000, reset=True))


def test_render_cli_runs_an_exported_model_and_refuses_wrong_ones(tmp_path, capsys):
    """The CI smoke path: tiny data -> a few steps -> export -> `streamproc render --model`."""
    import soundfile as sf

    from streamproc.cli import main

    src = tmp_path / "duet.wav"
    sf.write(str(src), 0.1 * np.random.default_rng(1).standard_normal(20000), 16000)
    out = tmp_path / "violin.wav"
    model = str(tiny_onnx("separate"))
    for recon in ("gla", "mask"):
        assert main(["render", str(src), str(out), "--task", "separate", "--recon", recon, "--model", model]) == 0
        assert sf.info(str(out)).frames == 20000
    out.unlink()
    for argv, needle in [
        (["--task", "superres", "--model", model], "not 'superres'"),
        (["--task", "synth", "--recon", "mask"], "not available for task synth"),
        (["--task", "superres", "--recon", "mask"], "not available for task superres"),
        (["--task", "separate", "--model", str(src)], "model"),
    ]:
        assert main(["render", str(src), str(out), *argv]) == 2
        err = capsys.readouterr().err
        assert needle in err and err.count("\n") == 1, err
        assert not out.exists()


def test_ratio_mask_generator_trains_exports_and_only_attenuates(tmp_path):
    """--output mask: the generator's output is the input image attenuated by a bounded ratio
    mask (never louder than the input), and it exports to ONNX with parity."""
    import torch

    from conftest_models import train_args
    from export.onnx import export, load_generator
    from models.train import main

    out = tmp_path / "run"
    assert main(train_args("separate", tiny_data("separate"), out, 2, "--output", "mask")) == 0
    G, cfg, _ = load_generator(out / "ckpt_last.pt")
    assert cfg.output == "mask"
    x = torch.rand(2, 1, 128, 64) * 2 - 1
    with torch.no_grad():
        y = G(x)
    assert (y <= x + 1e-6).all() and (y >= -1).all() and (y < x - 1e-3).any()
    onnx_path = tmp_path / "mask.onnx"
    export(out / "ckpt_last.pt", onnx_path, data=tiny_data("separate"))
    assert json.loads(read_metadata(onnx_path)["network"])["output"] == "mask"
    from models.train import make_config, TrainError

    with pytest.raises(TrainError, match="ratio-mask"):
        make_config("pitch", "tiny", {}, "gan", "mask")
