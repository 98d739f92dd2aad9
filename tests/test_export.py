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

from streamproc.config import DEFAULT, SpectralConfig  # noqa: E402
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
    assert m.pitch_layout.n_bins == 128 and m.metadata["task"] == "pitch"
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
        good.with_name(good.name): ({"cfg": SpectralConfig(n_fft=512, hop=128, n_mels=80)}, "n_fft"),
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


class _TorchFrameModel:
    """The checkpoint's generator in PyTorch behind the FrameModel protocol (the reference the
    ONNX export must reproduce inside the engine)."""

    def __init__(self, task: str) -> None:
        from export.onnx import _Window, load_generator

        G, cfg, _ = load_generator(tiny_run(task))
        self.model = _Window.wrap(G)
        self.n_inputs, self.n_outputs = cfg.rows_in, cfg.rows_out
        self.context_frames, self.new_frames = cfg.context_frames, cfg.new_frames
        self.lookahead_frames = cfg.lookahead_frames
        self.output_kind = "mel"

    def run(self, window: np.ndarray) -> np.ndarray:
        import torch

        with torch.no_grad():
            return self.model(torch.from_numpy(np.ascontiguousarray(window, np.float32))).numpy()


def _example(name: str, seconds: float) -> np.ndarray:
    import soundfile as sf

    x, rate = sf.read(str(REPO / "streamproc" / "examples" / name), dtype="float32", always_2d=True)
    assert rate == DEFAULT.sample_rate
    return x[: int(seconds * rate), 0]


def test_processor_with_the_onnx_model_equals_pytorch_on_real_audio():
    """End to end on a real clip: the exported model inside the engine gives what the PyTorch
    generator gives there (and it does translate: the output is not the input resynthesised).
    The mask path is smooth in the model's output; Griffin-Lim's iterations would amplify the
    1e-6 float differences between the two runtimes into audible phase drift."""
    recon = "mask"
    import streamproc

    x = _example("duet.flac", 1.5)
    onnx_path = str(tiny_onnx("separate"))
    y = streamproc.Processor(task="separate", recon=recon, model=onnx_path).process(x, 16000, reset=True)
    ref = streamproc.Processor(task="separate", recon=recon, model=_TorchFrameModel("separate")).process(
        x, 16000, reset=True)
    assert y.shape == x.shape
    assert np.max(np.abs(y - ref)) <= 1e-4 * max(1.0, np.max(np.abs(ref)))
    plain = streamproc.Processor(task="resynth", recon=recon).process(x, 16000, reset=True)
    assert np.max(np.abs(y - plain)) > 1e-3


def test_onnx_model_inside_the_engine_chunker():
    """The engine hands the ONNX model exactly the windows of the input's log-mel image that an
    offline computation makes (past context of silence first, advancing by new_frames), and
    uses the model's answer for the new frames of the first window."""
    from streamproc import dsp
    from streamproc.spec import resolve
    from streamproc.stages import Chunker, MelFeatures, StftFramer

    m = load_model(tiny_onnx("separate"), task="separate")
    seen: list[np.ndarray] = []

    class Recording:
        def __getattr__(self, name):
            return getattr(m, name)

        def run(self, window):
            seen.append(np.array(window))
            return m.run(window)

        def run_columns(self, window, start, stop):  # what the chunker calls: the columns it keeps
            seen.append(np.array(window))
            return m.run_columns(window, start, stop)

    x = _example("duet.flac", 1.5).astype(np.float64)
    spec = resolve("separate", "mask", "quality")  # the model's own chunking
    framer, mel, chunker = StftFramer(spec.cfg), MelFeatures(spec.cfg), Chunker(Recording())
    out = chunker.process(mel.process(framer.process(x)))
    n = len(x) // spec.cfg.hop  # the frames the input completes
    feat = dsp.log_mel_features(x, spec.cfg).T[:n].astype(np.float32)  # (frames, rows), offline
    ctx, new, width = m.context_frames, m.new_frames, m.window_frames
    padded = np.concatenate([np.full((ctx, m.n_inputs), -1.0, np.float32), feat])
    assert len(seen) == (len(padded) - width) // new + 1 >= 3
    for i, w in enumerate(seen):
        np.testing.assert_allclose(w, padded[i * new: i * new + width].T, atol=1e-5)
    first = m.run(padded[:width].T).T[ctx: ctx + new]
    np.testing.assert_allclose(out.features[:new], first, atol=1e-6)
    assert len(out) == len(seen) * new


def test_export_writes_the_runtime_schema():
    """Export and runtime share one schema: what export writes parses back to what it meant,
    and a round trip through props loses nothing (also for the shipped models)."""
    from export.onnx import load_generator, model_metadata
    from streamproc.model_meta import ModelMetadata
    from streamproc.onnx_model import MODELS_DIR
    from streamproc.pitchmap import DEFAULT_LAYOUT

    _, cfg, summary = load_generator(tiny_run("pitch"))
    want = model_metadata(cfg, summary)
    got = load_model(tiny_onnx("pitch"), task="pitch").meta
    assert got == want and got.pitch == DEFAULT_LAYOUT and got.window_frames == 64
    assert ModelMetadata.from_props(got.to_props()) == got
    for f in sorted(MODELS_DIR.glob("*.onnx")):
        md = read_metadata(f)
        assert ModelMetadata.from_props(md, str(f)).to_props() == md, f.name


def test_metadata_errors_name_the_key():
    from dataclasses import replace

    from streamproc.model_meta import ModelMetadata

    meta = ModelMetadata(task="pitch", output_kind="pitchmap", spectral=DEFAULT, n_inputs=128, n_outputs=128,
                         context_frames=4, new_frames=2, lookahead_frames=2, voicing_threshold=0.25,
                         extra={"note": "kept"})
    from streamproc.pitchmap import DEFAULT_LAYOUT

    meta = replace(meta, pitch=DEFAULT_LAYOUT)
    props = meta.to_props()
    assert ModelMetadata.from_props(props) == meta and props["voicing_threshold"] == "0.25"
    for key, value, needle in [("hop", "two", "malformed hop"), ("voicing_threshold", "loud", "voicing_threshold"),
                               ("n_pitch_bins", None, "n_pitch_bins"), ("format", "other", "without streamproc"),
                               ("new_frames", None, "lacks streamproc metadata: new_frames")]:
        bad = {k: v for k, v in props.items() if k != key}
        if value is not None:
            bad[key] = value
        with pytest.raises(UserError, match=needle) as e:
            ModelMetadata.from_props(bad, "m.onnx")
        assert str(e.value).startswith("m.onnx") and "\n" not in str(e.value)


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
    with pytest.raises(TrainError, match="a residual output needs a U-Net"):
        make_config("pitch", "tiny", {}, "gan", "residual")


def test_export_carries_a_pitch_models_voicing_threshold(tmp_path):
    out = tmp_path / "p.onnx"
    r = _cli("export.onnx", str(tiny_run("pitch")), str(out), "--voicing-threshold", "0.7")
    assert r.returncode == 0, r.stderr
    assert read_metadata(out)["voicing_threshold"] == "0.7"
    assert load_model(out, task="pitch").voicing_threshold == pytest.approx(0.7)
    refused = {"not_pitch": (str(tiny_run("separate")), "0.5"), "above_on": (str(tiny_run("pitch")), "1.0"),
               "below_off": (str(tiny_run("pitch")), "-1.5")}
    for name, (ck, thr) in refused.items():
        r = _cli("export.onnx", ck, str(tmp_path / "x.onnx"), "--voicing-threshold", thr)
        assert r.returncode == 2 and r.stderr.startswith("error:") and "voicing-threshold" in r.stderr, (name, r.stderr)
    assert not (tmp_path / "x.onnx").exists()
