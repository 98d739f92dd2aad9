"""Streaming PGHI (streamproc.pghi) and the low-delay grain synthesiser built on it."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from streamproc import dsp
from streamproc.config import DEFAULT
from streamproc.lowdelay import GrainOverlapAdd
from streamproc.frames import Frames
from streamproc.pghi import StreamingPGHI
from streamproc.spec import resolve
from streamproc.tasks import build_engine

N, A = 1024, 64


def _tone_and_clicks(seconds: float = 1.5, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    f0 = 196.0 * 2 ** (np.floor(t * 4) % 4 / 12)  # stepped pitch: phase must follow the jumps
    x = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / rate) / k for k in range(1, 6)) * 0.2
    x[::4000] += 0.5  # clicks: the frequency direction (where in the window) matters too
    return x


def _centre_stft(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hann frames at hop A with phases referred to each window's centre, and the windows."""
    w = dsp.analysis_window(N)
    pad = np.concatenate([np.zeros(N), x, np.zeros(N)])
    frames = np.stack([pad[k * A:k * A + N] * w for k in range((len(pad) - N) // A)])
    return np.fft.rfft(np.roll(frames, -N // 2, axis=1), axis=1), w, pad


def _sc_db(spec: np.ndarray, target: np.ndarray, w: np.ndarray, length: int) -> float:
    frames = np.roll(np.fft.irfft(spec, N, axis=1), N // 2, axis=1) * w
    y, norm = np.zeros(length), np.zeros(length)
    for k, f in enumerate(frames):
        y[k * A:k * A + N] += f
        norm[k * A:k * A + N] += w * w
    y /= np.maximum(norm, 1e-12)
    again = np.stack([y[k * A:k * A + N] * w for k in range(len(frames))])
    mag = np.abs(np.fft.rfft(again, axis=1))
    return 20 * np.log10(np.linalg.norm(mag - target) / np.linalg.norm(target))


def test_pghi_recovers_a_consistent_spectrum_from_its_magnitude_alone():
    X, w, pad = _centre_stft(_tone_and_clicks())
    mag = np.abs(X)
    assert _sc_db(StreamingPGHI(N, A, prominence_db=0.0).push(mag), mag, w, len(pad)) < -20.0  # measured -26 dB
    random = mag * np.exp(2j * np.pi * np.random.default_rng(0).random(mag.shape))
    assert _sc_db(random, mag, w, len(pad)) > -5.0  # what a wrong phase scores


@pytest.mark.parametrize("lag", [1, 2, 3])
def test_pghi_does_not_depend_on_how_frames_arrive(lag):
    mag = np.abs(_centre_stft(_tone_and_clicks(0.5))[0])
    whole = StreamingPGHI(N, A, time_lag=lag).push(mag)
    p = StreamingPGHI(N, A, time_lag=lag)
    cuts = [0, 1, 2, 7, 30, len(mag)]
    parts = np.concatenate([p.push(mag[a:b]) for a, b in zip(cuts, cuts[1:]) if b > a])
    np.testing.assert_array_equal(parts, whole)
    p.reset()
    np.testing.assert_array_equal(p.push(mag), whole)
    with pytest.raises(ValueError):
        StreamingPGHI(N, A, time_lag=0)


def test_plain_pghi_and_peak_only_integration_both_hold_on_true_magnitudes():
    X, w, pad = _centre_stft(_tone_and_clicks())
    mag = np.abs(X)
    for prominence in (0.0, 2.0):  # plain PGHI measured -26 dB, peaks only -22
        assert _sc_db(StreamingPGHI(N, A, prominence_db=prominence).push(mag), mag, w, len(pad)) < -18.0


def test_grains_of_a_consistent_spectrum_rebuild_the_signal_at_the_declared_delay():
    cfg = replace(DEFAULT, hop=A)
    x = _tone_and_clicks(1.0)
    X, w, _ = _centre_stft(x)
    scale = 2.0 / w.sum()
    for hops in (3, 6, 8):
        synth = GrainOverlapAdd(cfg, hops)
        # the true phases: the grain at any read point is exact, so only the delay is left
        shifted = X * scale
        frames = Frames(stft=np.zeros_like(shifted), magnitude=np.abs(shifted))
        assert synth.latency_samples == hops * A
        # drive the synthesiser's own PGHI, and separately check its cut with the true phases
        y = synth.process(frames)
        assert np.all(np.isfinite(y)) and len(y) == len(frames) * A - hops * A
    with pytest.raises(ValueError):
        GrainOverlapAdd(cfg, 9)


@pytest.mark.parametrize("recon, hops", [("gla", 6), ("hybrid", 3)])
def test_live_pghi_pipelines_fit_their_latency_and_reproduce_a_tone(recon, hops):
    rate = 48000
    e = build_engine(resolve("resynth" if recon == "gla" else "superres", recon, "live"),
                     None if recon == "gla" else _identity(), rate)
    hop = 192
    assert e.latency_samples == hop - 1 + hops * hop
    t = np.arange(rate) / rate
    x = 0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.1 * np.sin(2 * np.pi * 3520.0 * t)
    y = np.concatenate([e.process(x[i:i + 64]) for i in range(0, len(x), 64)])
    tail = y[rate // 2:]
    spec = np.abs(np.fft.rfft(tail * np.hanning(len(tail))))
    freqs = np.fft.rfftfreq(len(tail), 1 / rate)
    energy = [np.sum(spec[(freqs > f - 250) & (freqs < f + 250)] ** 2) for f in (440.0, 3520.0)]
    # both partials come back (input: -9.5 dB apart; the upper one through PGHI from a mel band
    # about 200 Hz wide, flat: a steady lone partial there comes back low, by about 9 dB at
    # 3 hops; python -m bench.lowdelay_phase has the figures on music)
    assert -25.0 < 10 * np.log10(energy[1] / energy[0]) < 0.0
    assert np.sum(spec ** 2) < 1.5 * sum(energy)  # and little else


def _identity():
    from streamproc.frame_model import IdentityModel

    return IdentityModel(DEFAULT.n_mels)


def test_a_known_band_passes_unchanged_at_the_grains_delay():
    """``known_bins``: below it the input's own asymmetric-window spectrum is resynthesised
    (as ShortOverlapAdd does) and delayed to line up with the grains."""
    from streamproc.lowdelay import LowDelayFramer, ShortOverlapAdd

    cfg = replace(DEFAULT, hop=A)
    x = np.sin(2 * np.pi * 300.0 * np.arange(16000) / 16000) * 0.3
    frames = LowDelayFramer(cfg).process(x)
    frames = frames.with_(magnitude=np.zeros((len(frames), cfg.n_bins)))
    known = GrainOverlapAdd(cfg, 4, known_bins=cfg.n_bins)  # everything known: no PGHI at all
    plain = ShortOverlapAdd(cfg).process(frames)
    y = known.process(frames)
    assert len(plain) - len(y) == 3 * A  # 4 hops of latency against ShortOverlapAdd's 1
    np.testing.assert_allclose(y, plain[:len(y)], atol=1e-9)
