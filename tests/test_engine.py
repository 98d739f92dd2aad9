import numpy as np
import pytest

import streamproc
import streamproc.config
import streamproc.dsp
from streamproc.tasks import build_engine, resolve


def _engine(recon, rate, profile="default"):
    return build_engine(resolve("resynth", recon, profile), None, rate)


def _push_in_blocks(engine, x, sizes):
    engine.reset()
    out, i, k = [], 0, 0
    while i < len(x):
        n = sizes[k % len(sizes)]
        out.append(engine.push(x[i:i + n]))
        i, k = i + n, k + 1
    return np.concatenate(out)


@pytest.mark.parametrize("recon,rate,profile", [("gla", 16000, "default"), ("gla", 44100, "default"),
                                                ("mask", 48000, "default"), ("mask", 16000, "default"),
                                                ("gla", 48000, "low-latency")])
def test_block_size_invariance(recon, rate, profile, tone):
    x = tone(rate, 1.0)
    e = _engine(recon, rate, profile)
    whole = _push_in_blocks(e, x, [len(x)])
    rng = np.random.default_rng(3)
    random_sizes = list(rng.integers(1, 700, size=50)) + [1, 333, 1, 64, 4096]
    for sizes in ([1], [333], [64, 1, 4096, 7], random_sizes):
        y = _push_in_blocks(e, x, sizes)
        assert len(y) == len(whole) == len(x) - e.latency
        assert np.max(np.abs(y - whole)) <= 1e-6


@pytest.mark.parametrize("rate", [4000, 16000, 22050, 44100, 48000, 96000, 192000])
@pytest.mark.parametrize("profile", ["default", "low-latency"])
def test_impulse_comes_out_exactly_latency_samples_late(rate, profile):
    e = _engine("mask", rate, profile)
    x = np.zeros(rate // 2 + e.latency)
    pos = rate // 5
    x[pos] = 1.0
    y = np.concatenate([e.process(x[i:i + 100]) for i in range(0, len(x), 100)])
    assert len(y) == len(x)
    assert np.all(y[: e.latency] == 0)
    assert np.argmax(np.abs(y)) == pos + e.latency
    if rate == 16000:  # no resampling: the identity path is exact
        assert abs(y[pos + e.latency] - 1.0) < 1e-6


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


def test_low_latency_profile_is_lower_latency_and_still_close(tone):
    for rate in (16000, 48000):
        assert _engine("gla", rate, "low-latency").latency < _engine("gla", rate).latency - 0.03 * rate
    x = tone(16000, 1.0)
    ref = np.abs(streamproc.dsp.stft(x, streamproc.config.DEFAULT))
    sc = {}
    for profile in ("default", "low-latency"):
        y = streamproc.Processor("resynth", "gla", profile=profile)(x, 16000)
        sc[profile] = streamproc.dsp.spectral_convergence_db(ref, streamproc.dsp.stft(y, streamproc.config.DEFAULT))
    # the mel round trip bounds both (about -17 dB on this tone); the profile costs little on top
    assert sc["low-latency"] < sc["default"] + 1.5, sc


def test_latency_grows_with_resampling_and_is_reported():
    fx = streamproc.Processor("resynth")
    assert fx.latency_samples == fx.latency_for(16000)
    assert fx.latency_for(48000) > 3 * fx.latency_for(16000) * 0.9
