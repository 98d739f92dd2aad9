"""bench.quality / bench.testsets: the scoring helpers and the test-split guarantee (no benchmark run)."""
import dataclasses
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


def test_synth_clip_carries_an_audio_aligned_reference_of_its_violin():
    """The synth clip's f0 reference follows the rendered violin, not the score: voiced where the
    violin is audible (from when a note speaks, through its release), unvoiced in silence and
    before a note speaks, at the note's pitch; the violin audio itself is the plain render."""
    _soundfont_or_skip()
    from models import labels as L
    from models import render as R

    sr, seconds = T.SAMPLE_RATE, 4.0
    mel = np.array([[0.3, 0.9, 69.0], [1.0, 1.5, 72.0], [2.4, 2.8, 64.0]])  # in the violin's range
    blue, violin, notes, f0 = T.synth_pair(mel, seconds, np.random.default_rng(7))
    np.testing.assert_array_equal(notes[:, :3], mel)
    plain = T.fluid().render(notes, T.VIOLIN, int(seconds * sr)).astype(np.float64)
    np.testing.assert_allclose(violin, plain * (np.abs(violin).max() / np.abs(plain).max()), rtol=1e-6, atol=1e-9)
    assert f0.shape == (400,) and (f0 >= 0).all()
    t = np.arange(400) * T.F0_HOP
    centres = np.round(t * sr).astype(int)
    level = L.frame_levels_db(violin, centres)
    loud = level.max()
    assert (f0[level > loud - 20.0] > 0).all()          # audible -> voiced
    assert (f0[level < loud - 70.0] == 0).all()          # silence -> unvoiced
    assert (level < loud - 70.0).sum() > 50              # ... and there is silence in the clip
    hz = lambda m: 440.0 * 2 ** ((m - 69.0) / 12.0)     # noqa: E731
    for start, end, midi in mel:
        on = np.isclose(f0, hz(midi))
        assert start <= t[on].min() < start + 0.15       # never before its MIDI onset
        assert on[(t > start + 0.15) & (t < end)].all()  # its own pitch while it plays
        assert t[on].max() > end + 0.05                  # ... and through its audible release
    assert (f0[t < 0.3] == 0).all() and (f0[t > 3.6] == 0).all()
    assert f0[100] == pytest.approx(hz(69.0))            # at 1.0 s the A still rings over the C's attack
    score = T.f0_reference(mel, seconds)[1]
    assert np.mean((f0 > 0) != (score > 0)) > 0.03      # the score-aligned reference differs


def test_synth_clips_cached_without_their_f0_are_rendered_again(tmp_path, monkeypatch):
    _soundfont_or_skip()
    import json

    monkeypatch.setattr(T, "CACHE", tmp_path)
    a = T.clip("synth", 2, seed=3, seconds=2.0)
    assert a.f0 is not None and a.f0.shape == (200,) and (a.f0 > 0).any()
    b = T.clip("synth", 2, seed=3, seconds=2.0)       # from the cache, f0 and all
    np.testing.assert_allclose(b.f0, a.f0, atol=1e-3)
    side = next(tmp_path.rglob("002.json"))
    meta = json.loads(side.read_text())
    del meta["f0"]                                    # as written before synth clips had one
    side.write_text(json.dumps(meta))
    assert T._load(side.parent, "synth", 2) is None
    c = T.clip("synth", 2, seed=3, seconds=2.0)
    np.testing.assert_allclose(c.f0, a.f0, atol=1e-3)
    assert "f0" in json.loads(side.read_text())


def test_synth_melody_target_reads_the_audio_aligned_figure():
    def summary(**m):
        return {"synth": {"summary": {"gla": {f"{k}_mean": v for k, v in m.items()}}}}

    def verdict(s):
        return [t for t in Q.targets(s) if "melody" in t["target"] and "(gla)" in t["target"]][0]

    t = verdict(summary(melody_rpa=0.95, melody_rpa_score=0.8))
    assert "audio-aligned" in t["target"] and t["figures"] == [0.95] and t["pass"] is True
    assert verdict(summary(melody_rpa=0.85, melody_rpa_score=0.95))["pass"] is False
    assert verdict(summary(melody_rpa=0.95))["pass"] is None  # an old report: score-aligned melody_rpa


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


# ------------------------------------------------------------------ audio-aligned pitch sets and peers

def test_audio_aligned_reference_is_voiced_only_where_the_stem_sounds():
    """A bowed violin line rendered in ONE stem (FluidR3): each note is labelled with its own pitch,
    only where its stem is within VOICED_DB of that note's peak (so not before it speaks, and on
    through its audible release), whatever the MIDI note times say."""
    _soundfont_or_skip()
    from models import labels as L
    from models import render as R

    sr = R.SAMPLE_RATE
    notes = np.array([[0.3, 0.9, 69.0, 100.0], [1.6, 2.2, 76.0, 100.0], [2.9, 3.4, 64.0, 100.0]])
    n = 4 * sr
    nb = -(-n // R.BLOCK)
    stem = R.renderer(R.soundfont_path(T.SOUNDFONT)).render(
        notes, T.VIOLIN, n, controls=R.Controls(np.zeros(nb), np.full(nb, 127.0))).astype(np.float64)
    stem_of = L.assign_stems(notes)
    assert stem_of.tolist() == [0, 0, 0]     # far enough apart to share a stem
    centres = np.round(np.arange(400) * T.F0_HOP * sr).astype(int)
    who = L.audible_note(notes, [stem], stem_of, centres, sample_rate=sr)
    f0 = L.midi_to_hz(L.f0_midi(who, notes, centres / sr, lambda t, m: m))
    t = centres / sr
    level = L.frame_levels_db(stem, centres)
    for j, (start, end, midi, _) in enumerate(notes):
        on = who == j
        span = (t >= start) & (t < (notes[j + 1, 0] if j + 1 < len(notes) else np.inf))
        peak = level[span].max()
        assert on.any() and not (on & ~span).any()
        assert (level[on] >= peak - L.VOICED_DB).all()                    # audible wherever voiced
        first = np.flatnonzero(on)[0]
        assert t[first] >= start and level[first - 1] < peak - L.VOICED_DB  # not before it speaks
        assert t[on].max() > end + 0.05                                   # the release still sounds
        np.testing.assert_allclose(f0[on], 440.0 * 2 ** ((midi - 69.0) / 12.0))
    assert (f0[(t > 1.2) & (t < 1.55)] == 0).all() and (f0[t < 0.29] == 0).all()


def test_pitch_clip_is_a_test_split_pair_on_one_soundfont():
    _soundfont_or_skip()
    from models.render import corpus_works
    from models.split import is_test

    c = T.pitch_clip("FluidR3_GM", 3, seed=5, seconds=2.0, cache=False)
    assert is_test(c.info["work"]) and c.info["soundfont"] == "FluidR3_GM"
    assert c.input.shape == (32000,) and c.f0.shape == (200,) and (c.f0 > 0).any() and (c.f0 >= 0).all()
    with pytest.raises(ValueError, match="not a test-split work"):
        T.pitch_clip("FluidR3_GM", 0, seconds=2.0, works=corpus_works("train")[:3])


def test_peers_not_installed_or_broken_are_reported_not_fatal(monkeypatch):
    from bench import peers as P

    def broken():
        raise RuntimeError("weights damaged")

    monkeypatch.setitem(P.PEERS, "absent", P.Peer("absent", ("no_such_module_xyz",), broken, ""))
    monkeypatch.setitem(P.PEERS, "broken", P.Peer("broken", ("numpy",), broken, ""))
    ok, missing = P.available(["absent", "broken", "pyin", "nonesuch"])
    assert set(ok) == {"pyin"}
    assert "not installed (no_such_module_xyz)" in missing["absent"] and P.INSTALL in missing["absent"]
    assert "failed to load: RuntimeError: weights damaged" in missing["broken"]
    assert "unknown peer" in missing["nonesuch"]
    # the pitch evaluation goes on around them, and reports them
    t = np.arange(16000) / 16000
    clip = T.Clip("pitch", 0, 0.3 * np.sin(2 * np.pi * 440 * t), None, None,
                  {"work": "w", "programs": [40], "bend_cents": 0.0}, np.full(100, 440.0))

    class Bar:
        total = 0

        def refresh(self):
            pass

        def update(self):
            pass

    r = Q.eval_pitch([clip], "quality", Bar(), peers=("absent", "broken"))
    assert {"absent", "broken"} <= set(r["missing"])
    summary = r["scores"].summary()
    if "streamproc" in summary:  # a shipped pitch model: it was scored beside the missing peers
        assert 0.0 <= summary["streamproc"]["rpa_mean"] <= 1.0


def test_pitch_scores_fine_error_in_cents():
    t = np.arange(300) * 0.01
    ref = np.where(t > 0.5, 440.0, 0.0)
    sharp = ref * 2 ** (10 / 1200)           # 10 cents sharp: within 20
    s = Q.pitch_scores(t, ref, t, sharp)
    assert s["rpa"] == 1.0 and s["c20"] == 1.0 and s["cents_med"] == pytest.approx(10.0, abs=0.5)
    s = Q.pitch_scores(t, ref, t, ref * 2 ** (30 / 1200))   # 30 cents: within 50, not 20
    assert s["rpa"] == 1.0 and s["c20"] == 0.0 and s["cents_mean"] == pytest.approx(30.0, abs=0.5)


def test_restore_strength_override_reaches_the_profiles_scored_and_is_checked(monkeypatch, tmp_path):
    from streamproc import spec as S

    seen = {}

    def fake_eval(clips, profile, bar, **kw):
        seen[profile] = S.PROFILES[profile].restoration_strength("superres")  # a task's own gives way too
        return {"scores": Q.Scores(), "missing": {}}

    monkeypatch.setitem(Q.EVALUATORS, "separate", fake_eval)
    monkeypatch.setattr(T, "clips", lambda *a, **k: [])
    for name, prof in S.PROFILES.items():  # the override must not leak into other tests
        monkeypatch.setitem(S.PROFILES, name, prof)
    monkeypatch.setattr(Q, "write_json", lambda *a, **k: None)
    Q.main(["--tasks", "separate", "--profile", "default,quality", "--clips", "1", "--restore-strength", "0.55",
            "--out", str(tmp_path / "q.json")])
    assert seen == {"default": 0.55, "quality": 0.55}
    with pytest.raises(SystemExit):
        Q.main(["--tasks", "separate", "--restore-strength", "1.5", "--out", str(tmp_path / "q.json")])


def test_later_weight_override_reaches_the_profiles_scored_and_is_checked(monkeypatch, tmp_path):
    from streamproc import spec as S

    seen = {}

    def fake_eval(clips, profile, bar, **kw):
        seen[profile] = S.PROFILES[profile].later_run_weight("separate")
        return {"scores": Q.Scores(), "missing": {}}

    monkeypatch.setitem(Q.EVALUATORS, "separate", fake_eval)
    monkeypatch.setattr(T, "clips", lambda *a, **k: [])
    for name, prof in S.PROFILES.items():  # the override must not leak into other tests
        monkeypatch.setitem(S.PROFILES, name, dataclasses.replace(prof, later_weights=(("separate", 0.3),)))
    monkeypatch.setattr(Q, "write_json", lambda *a, **k: None)
    for arg, want in (("1", 1.0), ("ramp", None)):
        Q.main(["--tasks", "separate", "--profile", "default,low-latency", "--clips", "1", "--later-weight", arg,
                "--out", str(tmp_path / "q.json")])
        assert seen == {"default": want, "low-latency": want}  # a task's own gives way too
    for bad in ("1.5", "half"):
        with pytest.raises(SystemExit):
            Q.main(["--tasks", "separate", "--later-weight", bad, "--out", str(tmp_path / "q.json")])


def test_recons_narrows_the_reconstructions_scored_and_is_checked(monkeypatch, tmp_path):
    built = []

    class Recorder:
        def __init__(self, task, recon, model=None, profile=None, **kw):
            built.append((task, recon, model))

        def latency_for(self, rate):
            return 0

    monkeypatch.setattr("streamproc.Processor", Recorder)
    ok, missing = Q.processors("separate", "default", recons=("mask",))
    assert list(ok) == ["mask"] and not missing and built == [("separate", "mask", None)]
    built.clear()
    procs, _ = Q.candidates("separate", "default", (("cand", "x.onnx"),), recons=("mask", "gla"))
    assert sorted(procs) == ["cand-gla", "cand-mask"]
    with pytest.raises(SystemExit):
        Q.main(["--tasks", "separate", "--recons", "hybrid", "--out", str(tmp_path / "q.json")])


def test_separate_sets_put_the_violin_on_an_inner_voice_and_render_any_soundfont():
    _soundfont_or_skip()
    from models.render import soundfont_path

    top = T.clip("separate", 2, seed=3, seconds=3.0, cache=False)
    assert top.info["voice"] == "top" and top.info["soundfont"] == "FluidR3_GM" and top.info["piano_above"] < 0.2
    inner = T.clip("separate", 2, seed=3, seconds=3.0, cache=False, voice="inner")
    assert inner.info["voice"] == "inner" and inner.info["piano_above"] > 0.5 and inner.info["piano_below"] > 0.5
    assert inner.input.shape == top.input.shape == (48000,)
    assert np.abs(inner.input - inner.reference).max() > 0  # a duet: the piano is in the mix
    if Path(soundfont_path("sf_GMbank")).is_file():
        other = T.clip("separate", 2, seed=3, seconds=3.0, cache=False, soundfont="sf_GMbank")
        assert other.info["soundfont"] == "sf_GMbank" and other.info["work"] == top.info["work"]
        assert not np.allclose(other.reference, top.reference)  # same notes, another violin
    with pytest.raises(ValueError, match="voice"):
        T.clip("superres", 0, seconds=2.0, cache=False, voice="inner")
    with pytest.raises(ValueError, match="soundfont"):
        T.clip("pitch", 0, seconds=2.0, cache=False, soundfont="sf_GMbank")


def test_the_original_clip_sets_keep_their_cache_and_other_sets_get_their_own():
    assert T._folder("separate", 0, 10.0).name == "v1-separate-seed0-10s"
    assert T._folder("separate", 0, 10.0, "MuseScore_General_Lite", "inner").name == \
        "v1-separate-MuseScore_General_Lite-inner-seed0-10s"
    assert T._folder("synth", 1, 5.0, "TimGM6mb").name == "v1-synth-TimGM6mb-seed1-5s"


def test_separate_targets_on_other_soundfonts_and_voices():
    def fig(v):
        return {"summary": {"mask": {"si_sdr_mean": v}}}

    rows = {r["target"]: r["pass"] for r in Q.targets(
        {"separate": fig(14.0), "separate/Other": fig(12.5), "separate/Other/inner": fig(11.5), "separate/inner": fig(10.0)})}
    assert rows["separate/Other SI-SDR (mask) >= 13 dB"] is False
    assert rows["separate/Other: drop from separate (FluidR3_GM) <= 1 dB"] is False  # 1.5 dB lower
    assert rows["separate/Other/inner SI-SDR (mask) >= 11 dB"] is True
    assert rows["separate/inner SI-SDR (mask) >= 11 dB"] is False


def test_soundfonts_and_voices_choose_the_sets_scored_and_are_checked(monkeypatch, tmp_path):
    drawn = []
    monkeypatch.setattr(T, "clips", lambda task, n, seed, seconds, **kw: drawn.append((task, kw)) or [])
    monkeypatch.setitem(Q.EVALUATORS, "separate", lambda clips, profile, bar, **kw: {"scores": Q.Scores(), "missing": {}})
    monkeypatch.setattr(Q, "write_json", lambda *a, **k: None)
    Q.main(["--tasks", "separate", "--clips", "1", "--soundfonts", "FluidR3_GM,csound",  # an alias: canonical name
            "--separate-voices", "top,inner", "--out", str(tmp_path / "q.json")])
    assert [(t, kw["soundfont"], kw["voice"]) for t, kw in drawn] == [
        ("separate", "FluidR3_GM", "top"), ("separate", "FluidR3_GM", "inner"),
        ("separate", "sf_GMbank", "top"), ("separate", "sf_GMbank", "inner")]
    for bad in (["--separate-voices", "middle"], ["--soundfonts", "NoSuchFont"]):
        with pytest.raises(SystemExit):
            Q.main(["--tasks", "separate", *bad, "--out", str(tmp_path / "q.json")])


def test_pitch_oversample_adds_our_tracker_at_other_pass_counts_and_is_checked(monkeypatch, tmp_path):
    """``--pitch-oversample 1``: ours again at one pass per hop, as ``streamproc[x1]``, beside the
    profile's own (two passes offline); a count that does not divide the hop is refused."""
    seen = {}

    def fake_eval(clips, profile, bar, **kw):
        seen.update(kw)
        return {"scores": Q.Scores(), "missing": {}}

    monkeypatch.setitem(Q.EVALUATORS, "pitch", fake_eval)
    monkeypatch.setattr(T, "pitch_clips", lambda *a, **k: [])
    monkeypatch.setattr(Q, "write_json", lambda *a, **k: None)
    Q.main(["--tasks", "pitch", "--clips", "1", "--peers", "none", "--pitch-oversample", "1,4",
            "--pitch-soundfonts", "FluidR3_GM", "--out", str(tmp_path / "q.json")])
    assert seen["oversamples"] == (1, 4)
    for bad in ("3", "two"):
        with pytest.raises(SystemExit):
            Q.main(["--tasks", "pitch", "--pitch-oversample", bad, "--out", str(tmp_path / "q.json")])
    trackers, missing = Q._trackers(None, ("none",), (), (), None, (1,))
    assert {"streamproc", "streamproc[x1]"} <= set(trackers) or "streamproc" in missing
