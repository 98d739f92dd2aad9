import numpy as np
import pytest

import streamproc
import streamproc.config
import streamproc.dsp
from streamproc.tasks import build_engine, resolve

from standins import push_blocks


def _engine(recon, rate, profile="default"):
    return build_engine(resolve("resynth", recon, profile), None, rate)


@pytest.mark.parametrize("recon,rate,profile", [("gla", 16000, "default"), ("gla", 44100, "default"),
                                                ("mask", 48000, "default"), ("mask", 16000, "default"),
                                                ("gla", 48000, "low-latency")])
def test_block_size_invariance(recon, rate, profile, tone):
    x = tone(rate, 1.0)
    e = _engine(recon, rate, profile)
    whole = push_blocks(e, x, [len(x)])
    rng = np.random.default_rng(3)
    random_sizes = list(rng.integers(1, 700, size=50)) + [1, 333, 1, 64, 4096]
    for sizes in ([1], [333], [64, 1, 4096, 7], random_sizes):
        y = push_blocks(e, x, sizes)
        assert len(y) == len(whole) == len(x) - e.latency_samples
        assert np.max(np.abs(y - whole)) <= 1e-6


@pytest.mark.parametrize("rate", [4000, 16000, 22050, 44100, 48000, 96000, 192000])
@pytest.mark.parametrize("profile", ["default", "low-latency"])
def test_impulse_comes_out_exactly_latency_samples_late(rate, profile):
    e = _engine("mask", rate, profile)
    x = np.zeros(rate // 2 + e.latency_samples)
    pos = rate // 5
    x[pos] = 1.0
    y = np.concatenate([e.process(x[i:i + 100]) for i in range(0, len(x), 100)])
    assert len(y) == len(x)
    assert np.all(y[: e.latency_samples] == 0)
    assert np.argmax(np.abs(y)) == pos + e.latency_samples
    if rate == 16000:  # no resampling: the identity path is exact
        assert abs(y[pos + e.latency_samples] - 1.0) < 1e-6


def test_griffinlim_output_is_time_aligned(tone):
    x = tone(16000, 2.0) * (np.arange(32000) % 8000 < 4000)
    y = streamproc.Processor("resynth", "gla")(x, 16000)
    env = lambda s: np.convolve(s ** 2, np.ones(160) / 160, "same")
    ex, ey = env(x) - env(x).mean(), env(y) - env(y).mean()
    lag = np.argmax(np.correlate(ey, ex, "full")) - (len(x) - 1)
    assert abs(lag) <= 32


def test_identity_mask_path_reconstructs_the_input(tone):
    x = tone(16000, 1.0)
    y = streamproc.Processor("resynth", "mask")(x, 16000)
    assert np.max(np.abs(y - x)) < 1e-5


def test_profiles_trade_latency_and_stay_close(tone):
    for rate in (16000, 48000):
        low, default, quality = (_engine("gla", rate, p).latency_samples for p in ("low-latency", "default", "quality"))
        assert low <= default < quality - 0.03 * rate  # resynth has no model chunking to cut
    x = tone(16000, 1.0)
    ref = np.abs(streamproc.dsp.stft(x, streamproc.config.DEFAULT))
    sc = {}
    for profile in ("quality", "default", "low-latency"):
        y = streamproc.Processor("resynth", "gla", profile=profile)(x, 16000)
        sc[profile] = streamproc.dsp.spectral_convergence_db(ref, streamproc.dsp.stft(y, streamproc.config.DEFAULT))
    # the mel round trip bounds all (about -17 dB on this tone); the profile costs little on top
    assert max(sc.values()) < sc["quality"] + 1.5, sc


def test_default_profile_within_200_ms_and_low_latency_within_80_ms_at_16k():
    """The issue's latency targets, as declared (exact by construction): every pipeline with a
    shipped model, default within 200 ms at 16-48 kHz, low-latency within 80 ms at 16 kHz
    (restore: 128 ms, its net running every 4 frames to stay within its real-time budget)."""
    from streamproc.tasks import RECONS, task_model

    for task, recons in RECONS.items():
        model = task_model(task) if task != "resynth" else None
        for recon in recons:
            for rate in (16000, 44100, 48000):
                assert build_engine(resolve(task, recon, "default"), model, rate).latency_samples <= 0.200 * rate, (task, recon)
            limit = 0.128 if recon == "restore" else 0.080
            assert build_engine(resolve(task, recon, "low-latency"), model, 16000).latency_samples <= limit * 16000, (task, recon)


def test_latency_grows_with_resampling_and_is_reported():
    fx = streamproc.Processor("resynth")
    assert fx.latency_samples == fx.latency_for(16000)
    assert fx.latency_for(48000) > 3 * fx.latency_for(16000) * 0.9


def _restore_engine(recon, rate, profile="default"):
    """A stand-in restoration model (identity on the 513 linear bins): the GAN-S stage's
    chunking and latency without a trained network."""
    from streamproc.frame_model import IdentityModel

    ident = IdentityModel(513, context_frames=40, new_frames=8, lookahead_frames=16)
    task = "superres" if recon == "hybrid" else "resynth"
    spec = resolve(task, recon, profile)
    model = IdentityModel(128, 40, 8, 16) if task == "superres" else None
    return build_engine(spec, model, rate, restore_model=ident)


@pytest.mark.parametrize("recon,rate,profile", [("restore", 16000, "default"), ("hybrid", 44100, "default"),
                                                ("restore", 48000, "low-latency")])
def test_restore_and_hybrid_block_size_invariance_and_latency(recon, rate, profile, tone):
    x = tone(rate, 1.5)
    e = _restore_engine(recon, rate, profile)
    whole = push_blocks(e, x, [len(x)])
    for sizes in ([333], [64, 1, 4096, 7]):
        y = push_blocks(e, x, sizes)
        assert len(y) == len(whole) == len(x) - e.latency_samples
        assert np.max(np.abs(y - whole)) <= 1e-6
    e.reset()  # a click comes out near its own time plus the declared latency
    pos = rate // 4
    imp = np.zeros(rate + e.latency_samples)
    imp[pos] = 1.0
    y = np.concatenate([e.process(imp[i:i + 512]) for i in range(0, len(imp), 512)])
    assert abs(int(np.argmax(np.abs(y))) - (pos + e.latency_samples)) <= rate * 1024 // 16000


def test_hybrid_keeps_the_input_low_band(tone):
    """With an identity superres model, the hybrid output's band below the cutoff is the input's."""
    from streamproc.tasks import HYBRID_CUTOFF_HZ

    x = tone(16000, 2.0)
    e = _restore_engine("hybrid", 16000)
    y = e.render(x)
    cfg = streamproc.config.DEFAULT
    X, Y = streamproc.dsp.stft(x, cfg), streamproc.dsp.stft(y, cfg)
    k = int(HYBRID_CUTOFF_HZ * cfg.n_fft / cfg.sample_rate) - 2  # transition bins aside
    inner = slice(8, len(X) - 8)
    err = np.abs(Y[inner, :k] - X[inner, :k]).sum() / np.abs(X[inner, :k]).sum()
    assert err < 1e-3  # (window leakage from the estimated band above; plain gla: ~0.3)
