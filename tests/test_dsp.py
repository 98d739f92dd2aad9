import numpy as np

from streamproc import dsp
from streamproc.config import DEFAULT, SpectralConfig

SMALL = SpectralConfig(n_fft=512, hop=128, n_mels=80)  # a second framing, to catch hard-wired sizes


def test_stft_istft_round_trip_is_perfect():
    x = np.random.default_rng(1).standard_normal(12345)
    for cfg in (DEFAULT, SMALL):
        y = dsp.istft(dsp.stft(x, cfg), cfg, len(x))
        assert np.max(np.abs(x - y)) <= 1e-6


def test_sine_amplitude_reads_as_magnitude():
    sr = DEFAULT.sample_rate
    t = np.arange(sr) / sr
    mag = np.abs(dsp.stft(0.5 * np.sin(2 * np.pi * 1000 * t), DEFAULT))
    assert abs(mag[10:-10].max() - 0.5) < 0.01


def test_mel_filterbank_matches_librosa():
    import librosa

    ref = librosa.filters.mel(sr=16000, n_fft=1024, n_mels=128, fmin=0, fmax=8000, norm=None)
    assert np.max(np.abs(dsp.mel_filterbank(DEFAULT) - ref)) < 1e-6


def test_descale_is_nonnegative_and_consistent_with_the_mel(tone):
    mag = np.abs(dsp.stft(tone(16000, 1.0), DEFAULT))
    mel = dsp.mel_from_magnitude(mag, DEFAULT)
    est = dsp.descale(mel, DEFAULT)
    assert est.min() >= 0
    back = dsp.mel_from_magnitude(est, DEFAULT)
    assert np.linalg.norm(back - mel) / np.linalg.norm(mel) < 0.02
    # closer to the true magnitudes than the pseudo-inverse
    pinv = np.maximum(mel @ np.linalg.pinv(dsp.mel_filterbank(DEFAULT)).T, 0)
    assert dsp.spectral_convergence_db(mag, est) < dsp.spectral_convergence_db(mag, pinv)


def test_features_round_trip_within_range():
    mel = np.array([[1e-7, 1e-3, 0.5, 5.0]])
    feat = dsp.features_from_mel(mel, DEFAULT)
    assert feat.min() >= -1 and feat.max() <= 1
    back = dsp.mel_from_features(feat, DEFAULT)
    assert back[0, 0] == 0.0  # below the floor is silence
    np.testing.assert_allclose(back[0, 1:], mel[0, 1:], rtol=1e-9)


def test_per_frame_kernels_do_not_depend_on_batching(tone):
    spec = dsp.stft(tone(16000, 0.5), DEFAULT)
    mag = np.abs(spec)
    whole = dsp.descale(dsp.mel_from_magnitude(mag, DEFAULT), DEFAULT)
    parts = np.concatenate([dsp.descale(dsp.mel_from_magnitude(mag[i:i + 3], DEFAULT), DEFAULT)
                            for i in range(0, len(mag), 3)])
    assert np.array_equal(whole, parts)
