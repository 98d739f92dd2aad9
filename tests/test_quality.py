"""bench.quality / bench.testsets: the scoring helpers and the test-split guarantee (no benchmark run)."""
from pathlib import Path

import numpy as np
import pytest

from bench import quality as Q
from bench import testsets as T
from streamproc.metrics import lsd


def _noise(n=16000, seed=0):
    return 0.1 * np.random.default_rng(seed).standard_normal(n)


def test_band_lsd_of_a_signal_with_itself_is_zero_and_bands_see_only_their_bins():
    x = _noise()
    for band in (None, Q.LOW_BAND, Q.HIGH_BAND):
        assert lsd(x, x, band) == 0.0
    low = T.lofi(x)  # nothing left above 2 kHz
    assert lsd(x, low, Q.HIGH_BAND) > 3.0
    assert lsd(x, low, Q.LOW_BAND) < 0.5 * lsd(x, low, Q.HIGH_BAND)


def test_lofi_keeps_length_and_removes_the_upper_band():
    x = _noise(16001)
    y = T.lofi(x)
    assert y.shape == x.shape
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / 16000)
    assert spec[f > 2100].sum() < 1e-4 * spec[f < 1500].sum()  # edges leak a little


def test_linear_interpolation_baseline_length_and_values():
    low = np.array([0.0, 1.0, -1.0, 0.5])
    y = Q.linear_upsample(low, 16)
    assert y.shape == (16,)
    np.testing.assert_allclose(y[::4], low)          # the known samples stay
    np.testing.assert_allclose(y[1:4], [0.25, 0.5, 0.75])
    np.testing.assert_allclose(y[13:], 0.5)          # held past the last sample
    x = _noise(16000)
    assert Q.linear_upsample(T.through_low_rate(x), len(x)).shape == x.shape


def test_pitch_reference_from_notes():
    notes = np.array([[0.20, 1.00, 69.0], [1.00, 1.50, 60.5], [2.0, 2.05, 81.0]])
    t, f0 = T.f0_reference(notes, 3.0)
    assert len(t) == len(f0) == 300 and t[1] == pytest.approx(0.01)
    at = lambda s: f0[int(round(s / 0.01))]  # noqa: E731
    assert at(0.1) == 0.0 and at(0.19) == 0.0
    assert at(0.2) == pytest.approx(440.0) and at(0.99) == pytest.approx(440.0)
    assert at(1.0) == pytest.approx(440.0 * 2 ** (-8.5 / 12))  # detuned by a quarter tone
    assert at(1.6) == 0.0 and at(2.02) == pytest.approx(880.0) and at(2.5) == 0.0


def test_melody_scores():
    t = np.arange(200) * 0.01
    ref = np.where((t > 0.3) & (t < 1.5), 440.0, 0.0)
    assert Q.melody_scores(t, ref, t, ref) == {"rpa": 1.0, "rca": 1.0, "oa": 1.0}
    octave = Q.melody_scores(t, ref, t, 2 * ref)
    assert octave["rpa"] == 0.0 and octave["rca"] == 1.0
    guess = Q.melody_scores(t, ref, t, -ref)  # right pitch, voicing "unvoiced": counts for RPA only
    assert guess["rpa"] == 1.0 and guess["oa"] < 0.5


def test_log_mel_l1_in_db():
    x = _noise()
    assert Q.log_mel_l1_db(x, x) == 0.0
    assert Q.log_mel_l1_db(x, 2 * x) == pytest.approx(20 * np.log10(2), rel=0.02)


def _soundfont_or_skip():
    pytest.importorskip("fluidsynth")
    pytest.importorskip("music21")
    from models.render import soundfont_path

    if not Path(soundfont_path(T.SOUNDFONT)).is_file():
        pytest.skip("FluidR3_GM not installed")


def test_test_sets_draw_test_split_works_only():
    _soundfont_or_skip()
    from models.render import corpus_works
    from models.split import is_test

    works = T.test_works()
    assert works and all(is_test(w) for w in works)
    train = corpus_works("train")[:3]
    with pytest.raises(ValueError, match="not a test-split work"):
        T.clip("synth", 0, seconds=2.0, works=train, cache=False)
    c = T.clip("pitch", 5, seed=3, seconds=2.0, cache=False)
    assert is_test(c.info["work"]) and c.info["soundfont"] == "FluidR3_GM"
    assert c.input.shape == (32000,) and c.notes.shape[1] == 3


def test_synth_clip_is_deterministic_and_level_matched():
    _soundfont_or_skip()
    a = T.clip("synth", 1, seed=3, seconds=2.0, cache=False)
    b = T.clip("synth", 1, seed=3, seconds=2.0, cache=False)
    np.testing.assert_array_equal(a.input, b.input)
    np.testing.assert_array_equal(a.reference, b.reference)
    assert np.abs(a.input).max() == pytest.approx(np.abs(a.reference).max(), rel=1e-5)


def test_bundled_examples_are_small_16k_mono_and_agree_with_their_midi():
    pretty_midi = pytest.importorskip("pretty_midi")
    import soundfile as sf

    ex = Path(__file__).resolve().parent.parent / "streamproc" / "examples"
    for name in ("lofi.flac", "blueprint.flac", "melody.flac"):
        info = sf.info(str(ex / name))
        assert (info.samplerate, info.channels) == (16000, 1) and info.duration == pytest.approx(8.0)
        assert (ex / name).stat().st_size < 300_000
    notes = [n for i in pretty_midi.PrettyMIDI(str(ex / "melody.mid")).instruments for n in i.notes]
    f0 = np.loadtxt(ex / "melody-f0.csv", delimiter=",", skiprows=1)
    t, ref = T.f0_reference(np.array([[n.start, n.end, n.pitch] for n in notes]), 8.0)
    np.testing.assert_allclose(f0[:, 0], t, atol=1e-6)
    assert np.mean(np.abs(f0[:, 1] - ref) < 0.01) > 0.97  # MIDI ticks move note edges a little


def test_lsd_with_a_dynamic_range_ignores_what_lies_below_it():
    """LSD80 floors both spectra 80 dB under the reference's peak: differences in inaudible
    bins (here: a -100 dBFS hiss where the reference is digital silence) no longer count, audible ones still do."""
    from streamproc.metrics import lsd

    t = np.arange(16000) / 16000
    ref = 0.5 * np.sin(2 * np.pi * 440 * t) * (t < 0.5)  # then exact digital silence
    hiss = ref + 1e-5 * np.random.default_rng(0).standard_normal(len(t))  # -100 dBFS
    assert lsd(ref, hiss) > 0.5
    assert lsd(ref, hiss, range_db=80) < 1e-3
    louder = ref + 0.5 * np.sin(2 * np.pi * 3000 * t)
    assert lsd(ref, louder, range_db=80) > 0.3
