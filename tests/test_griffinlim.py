import numpy as np
import pytest

from streamproc import dsp
from streamproc.config import DEFAULT
from streamproc.griffinlim import StreamingGriffinLim, griffinlim


def _sc(mag, y):
    return dsp.spectral_convergence_db(mag, dsp.stft(y, DEFAULT, mag.shape[0]))


def test_offline_griffinlim_converges(tone):
    mag = np.abs(dsp.stft(tone(16000, 1.0), DEFAULT))
    assert _sc(mag, griffinlim(mag, DEFAULT, n_iter=32)) < _sc(mag, griffinlim(mag, DEFAULT, n_iter=1)) - 6


def test_streaming_griffinlim_reconstructs_a_harmonic_tone(tone):
    mag = np.abs(dsp.stft(tone(16000, 2.0), DEFAULT))
    y = StreamingGriffinLim(DEFAULT, lookahead=3, iterations=8).reconstruct(mag)
    assert _sc(mag, y) < -25.0


def test_streaming_griffinlim_is_independent_of_how_frames_are_pushed(tone):
    mag = np.abs(dsp.stft(tone(16000, 0.5), DEFAULT))
    g = StreamingGriffinLim(DEFAULT)
    whole = g.push(mag)
    g.reset()
    parts = np.concatenate([g.push(mag[i:i + k]) for i, k in
                            zip(np.cumsum([0, 1, 5, 2, 7, 1]), [1, 5, 2, 7, 1, len(mag)])])
    assert len(whole) == len(mag) - 3
    assert np.array_equal(whole, parts[: len(whole)])


def test_streaming_griffinlim_commits_with_declared_lookahead():
    mag = np.ones((10, DEFAULT.n_bins))
    g = StreamingGriffinLim(DEFAULT, lookahead=4)
    assert [len(g.push(mag[i:i + 1])) for i in range(10)] == [0] * 4 + [1] * 6


def test_known_band_is_kept_and_the_rest_estimated(tone):
    """superres ``hybrid``: bins below known_bins come out exactly as given (phase too)."""
    cfg = DEFAULT
    x = tone(16000, 1.0)
    spec = dsp.stft(x, cfg)
    known_bins = 115
    gla = StreamingGriffinLim(cfg, lookahead=3, iterations=6, known_bins=known_bins)
    pad = np.zeros((3, cfg.n_bins), complex)
    mags = np.abs(np.concatenate([spec, pad]))
    known = np.concatenate([spec, pad])[:, :known_bins]
    out = np.concatenate([gla.push(mags[i:i + 5], known[i:i + 5]) for i in range(0, len(mags), 5)])
    out = out[: len(spec)]
    assert np.array_equal(out[:, :known_bins], spec[:, :known_bins])
    assert np.allclose(np.abs(out[:, known_bins:]), np.abs(spec[:, known_bins:]))
    with pytest.raises(ValueError):
        gla.push(mags[:2])  # the known band is required


def test_fully_known_spectrum_reconstructs_the_input(tone):
    cfg = DEFAULT
    x = tone(16000, 0.5)
    spec = dsp.stft(x, cfg)
    gla = StreamingGriffinLim(cfg, lookahead=2, iterations=4, known_bins=cfg.n_bins)
    out = gla.push(np.abs(spec), spec)
    assert np.array_equal(out, spec[: len(out)])
