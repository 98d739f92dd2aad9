"""GAN-WN vocoder runtime: fast == naive, streaming == one-shot, guide, export parity, no pickle."""
from __future__ import annotations

import json

import numpy as np
import pytest

from streamproc import wavenet as W
from streamproc.config import SpectralConfig
from streamproc.frames import Frames
from standins import small_vocoder


def features(n_frames: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n_frames, 128)).astype(np.float32)


def test_fast_equals_naive():
    voc = small_vocoder()
    f = features(4)
    fast = W.generate(voc, f, n_samples=400, seed=5)
    naive = W.generate_naive(voc, f, n_samples=400, seed=5)
    assert len(fast) == 400
    np.testing.assert_array_equal(fast, naive)
    assert np.std(fast) > 0  # sampling actually varies
    # different seed, different samples
    assert not np.array_equal(fast, W.generate(voc, f, n_samples=400, seed=6))


def test_fast_equals_naive_with_guide():
    voc = small_vocoder(2)
    f = features(4, 1)
    guide = 0.3 * np.sin(np.arange(400) * 0.05)
    a = W.generate(voc, f, 400, seed=1, guide=guide, guide_weight=0.4)
    b = W.generate_naive(voc, f, 400, seed=1, guide=guide, guide_weight=0.4)
    np.testing.assert_array_equal(a, b)


def test_streaming_any_blocks_equals_one_shot():
    voc = small_vocoder()
    f = features(8)
    cond = voc.conditioning(f)
    idx = W.frame_indices(voc, 1500)
    one = W.FastGenerator(voc, seed=3).generate(cond, idx)
    rng = np.random.default_rng(0)
    gen = W.FastGenerator(voc, seed=3)
    parts, i = [], 0
    while i < len(idx):
        n = int(rng.integers(0, 300))
        parts.append(gen.generate(cond, idx[i:i + n]))
        i += n
    np.testing.assert_array_equal(np.concatenate(parts), one)
    gen.reset()
    np.testing.assert_array_equal(gen.generate(cond, idx), one)


@pytest.mark.parametrize("guide_weight", [None, 0.5])
def test_synth_stage_block_invariant(guide_weight):
    """Frames in arbitrary batches give the same samples; sample count follows the latency."""
    cfg = SpectralConfig()
    voc = small_vocoder()
    n_frames = 12
    f = features(n_frames, 3)
    rng = np.random.default_rng(1)
    stft = (rng.standard_normal((n_frames, cfg.n_bins)) + 1j * rng.standard_normal((n_frames, cfg.n_bins))) * 0.01
    frames = Frames(stft=stft, features=f, input_features=f)
    synth = W.WaveNetSynth(voc, cfg, guide_weight=guide_weight, seed=4)
    # whole hops (the engine's output resampler is fed whole hops): 768 guided, else 384 rounded up
    assert synth.latency_samples == (cfg.n_fft - cfg.hop if guide_weight is not None else 2 * cfg.hop)
    one = synth.process(frames)
    assert len(one) == n_frames * cfg.hop - synth.latency_samples
    synth.reset()
    parts, k = [], 0
    for n in [1, 0, 3, 2, 1, 5]:
        parts.append(synth.process(frames.slice(k, k + n)))
        k += n
    np.testing.assert_array_equal(np.concatenate(parts), one)
    if guide_weight is None:
        np.testing.assert_array_equal(one, W.generate(voc, f, len(one), seed=4))


def test_guide_weight_one_reproduces_guide():
    voc = small_vocoder()
    f = features(4)
    guide = 0.5 * np.sin(np.arange(600) * 0.03)
    y = W.generate(voc, f, 600, seed=0, guide=guide, guide_weight=1.0)
    np.testing.assert_allclose(y, guide, atol=1e-12)
    y0 = W.generate(voc, f, 600, seed=0, guide=guide, guide_weight=0.0)
    np.testing.assert_allclose(y0, W.generate(voc, f, 600, seed=0), atol=1e-6)
    half = W.generate(voc, f, 600, seed=0, guide=guide, guide_weight=0.5)
    assert np.abs(half - guide).mean() < np.abs(y0 - guide).mean()


def test_synth_guide_from_stft_is_the_input():
    """guide weight 1 through the stage: output equals the input the frames were analysed from."""
    from streamproc import dsp

    cfg = SpectralConfig()
    voc = small_vocoder()
    x = 0.3 * np.sin(np.arange(6 * cfg.hop) * 0.07)
    stft = dsp.stft(x, cfg, n_frames=6)
    frames = Frames(stft=stft, features=features(6))
    y = W.WaveNetSynth(voc, cfg, guide_weight=1.0).process(frames)
    np.testing.assert_allclose(y, x[:len(y)], atol=1e-9)


def test_npz_roundtrip_without_pickle(tmp_path):
    voc = small_vocoder()
    p = tmp_path / "v.npz"
    W.save_vocoder(p, voc)
    with np.load(p, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        assert all(z[k].dtype == np.float32 for k in W.ARRAYS)
    assert meta["format"] == W.FORMAT and meta["n_classes"] == 256
    back = W.load_vocoder(p)
    f = features(3)
    np.testing.assert_array_equal(W.generate(back, f, 200), W.generate(voc, f, 200))
    bad = tmp_path / "bad.npz"
    np.savez(bad, meta=np.array(json.dumps({"format": "other"})))
    with pytest.raises(W.VocoderError):
        W.load_vocoder(bad)
    np.savez(bad, meta=np.array(json.dumps({"format": W.FORMAT})), **voc.arrays)
    with pytest.raises(W.VocoderError, match="metadata"):
        W.load_vocoder(bad)
    with pytest.raises(W.VocoderError):
        W.load_vocoder(tmp_path / "missing.npz")


def test_export_parity_torch_npz_numba(tmp_path):
    torch = pytest.importorskip("torch")
    from export.wavenet import export_model, parity
    from models.wavenet import WaveNet, WaveNetConfig, frame_index, mulaw_compress

    torch.manual_seed(0)
    cfg = WaveNetConfig(n_layers=7, residual=8, skip=12, hidden=16, cond_channels=6, dilation_cycle=4)
    model = WaveNet(cfg).eval()
    with torch.no_grad():  # larger than default init, so differences would show
        for p in model.parameters():
            p.mul_(2.0)
    out = tmp_path / "voc.npz"
    meta = export_model(model, out, {"steps": 0})
    assert meta["dilations"] == cfg.dilations and meta["cond_offset"] == 384
    assert parity(model, out, n_samples=500) < 1e-4
    # the runtime's sample -> frame map is the model's
    voc = W.load_vocoder(out)
    np.testing.assert_array_equal(voc.frame_of_sample(np.arange(1000)), frame_index(cfg, 0, 1000).numpy())
    # companding agrees
    x = np.linspace(-1, 1, 101)
    np.testing.assert_allclose(mulaw_compress(x), [W._compress(v, 255.0) for v in x], atol=1e-12)


def test_naive_from_start_zero_is_naive():
    voc = small_vocoder()
    f = features(4)
    cond = voc.conditioning(f)
    idx = W.frame_indices(voc, 300)
    np.testing.assert_array_equal(W.generate_naive_from(voc, cond, idx, np.zeros(1), 0, seed=2),
                                  W.generate_naive(voc, f, 300, seed=2))


@pytest.mark.parametrize("guide_weight", [None, 1.0])
def test_engine_with_wavenet_synth(guide_weight):
    """In the engine: no latency underrun, block-size invariant, and with guide weight 1 the
    output is the input, time-aligned (the declared latency is exact)."""
    from streamproc.engine import Core, Engine
    from streamproc.stages import MelFeatures

    cfg = SpectralConfig()
    voc = small_vocoder()
    x = 0.2 * np.sin(2 * np.pi * 440 * np.arange(4000) / 16000)
    outs = []
    for block in (None, 1000, 333):
        eng = Engine(Core(cfg, [MelFeatures(cfg)], W.WaveNetSynth(voc, cfg, guide_weight=guide_weight)), 16000)
        outs.append(eng.render(x, block=block))
    assert len(outs[0]) == len(x)
    for y in outs[1:]:
        np.testing.assert_array_equal(y, outs[0])
    if guide_weight == 1.0:
        np.testing.assert_allclose(outs[0], x, atol=1e-9)


def test_train_resume_export_cli(tmp_path):
    """Tiny clip set -> 4 steps == 2 steps + resume 2 -> export CLI -> loadable vocoder."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("fluidsynth")
    from export.wavenet import main as export_main
    from models.wavenet_data import build
    from models.wavenet_train import load_checkpoint, main as train_main

    data = tmp_path / "clips"
    build(4 / 60.0, data, seed=0, seconds=2.0, soundfonts=["TimGM6mb"])
    net = '{"n_layers": 5, "residual": 8, "skip": 8, "hidden": 16, "cond_channels": 4, "dilation_cycle": 3}'
    common = ["--data", str(data), "--batch", "2", "--segment", "300", "--threads", "1", "--quiet", "--log-every", "1"]
    assert train_main(["--steps", "4", "--out", str(tmp_path / "a"), "--net", net, *common]) == 0
    assert train_main(["--steps", "2", "--out", str(tmp_path / "b"), "--net", net, *common]) == 0
    assert train_main(["--steps", "4", "--out", str(tmp_path / "b"), "--resume", *common]) == 0
    a, b = load_checkpoint(tmp_path / "a" / "ckpt_last.pt"), load_checkpoint(tmp_path / "b" / "ckpt_last.pt")
    assert a["step"] == b["step"] == 4
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert train_main(["--steps", "4", "--out", str(tmp_path / "a"), "--net", net, *common]) == 2  # no clobber
    out = tmp_path / "v.npz"
    assert export_main([str(tmp_path / "a" / "ckpt_last.pt"), str(out)]) == 0
    voc = W.load_vocoder(out)
    assert voc.meta["n_layers"] == 5 and voc.meta["training"]["steps"] == 4
    assert export_main([str(tmp_path / "missing.pt"), str(out)]) == 2
