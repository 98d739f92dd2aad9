import numpy as np

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
