"""Training-data variation and audio-aligned labels (models.expression, .recording, .arrange,
.labels, the soundfont hold-out): fast checks, no long renders."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fluidsynth")

from models import arrange as A  # noqa: E402
from models import expression as E  # noqa: E402
from models import labels as L  # noqa: E402
from models import recording as Rec  # noqa: E402
from models import render as R  # noqa: E402
from models.data import frame_centres, pitch_map_frames  # noqa: E402
from streamproc.pitchmap import DEFAULT_LAYOUT  # noqa: E402

SR = R.SAMPLE_RATE


def _rng(i: int = 0) -> np.random.Generator:
    return np.random.default_rng(i)


# ------------------------------------------------------------------ expression

def test_vibrato_is_a_bend_curve_of_the_asked_rate_and_depth():
    notes = np.array([[0.0, 4.0, 69.0, 100.0]])
    n_blocks = int(4.0 * E.BLOCK_RATE)
    found = []
    for seed in range(20):
        c = E.vibrato_curve(notes, n_blocks, _rng(seed), amount=1.0)
        tail = c[int(2.5 * E.BLOCK_RATE):int(3.9 * E.BLOCK_RATE)]     # past any late start and ramp
        depth = (tail.max() - tail.min()) / 2
        spec = np.abs(np.fft.rfft(tail - tail.mean(), 4096))
        rate = np.fft.rfftfreq(4096, 1 / E.BLOCK_RATE)[spec.argmax()]
        found.append((rate, depth))
        assert 3.8 <= rate <= 7.3 and 4.0 <= depth <= 41.0
        assert abs(c[0]) <= 6.0 + 1e-9      # only the intonation offset at the very start
    assert len({round(r, 1) for r, _ in found}) > 5  # rates vary


def test_vibrato_often_starts_late():
    notes = np.array([[0.0, 2.0, 69.0, 100.0]])
    late = 0
    for seed in range(40):
        c = E.vibrato_curve(notes, int(2.0 * E.BLOCK_RATE), _rng(seed), amount=1.0)
        first = int(0.3 * E.BLOCK_RATE)
        late += np.ptp(c[:first]) < 1e-9       # still flat after 0.3 s
    assert 10 <= late <= 35


def test_articulation_changes_lengths_not_starts():
    notes = np.array([[0.0, 0.5, 60, 80], [0.5, 1.0, 62, 80], [1.0, 1.5, 64, 80], [2.0, 2.5, 65, 80]], float)
    leg, _ = E.articulate(notes, _rng(1), "legato")
    det, _ = E.articulate(notes, _rng(1), "detached")
    np.testing.assert_array_equal(leg[:, 0], notes[:, 0])
    assert (leg[:2, 1] > notes[1:3, 0]).all()                     # legato runs into the next note
    assert leg[2, 1] == notes[2, 1]                               # ... but not across a rest
    assert (det[:, 1] - det[:, 0] < 0.76 * (notes[:, 1] - notes[:, 0])).all()


def test_expression_curve_stays_in_midi_range_and_moves():
    notes = np.array([[0.0, 3.0, 69.0, 90.0]])
    moves = 0
    for seed in range(20):
        c = E.expression_curve(notes, 1000, _rng(seed))
        assert c.min() >= 30 and c.max() <= 127
        moves += np.ptp(c) > 5
    assert moves >= 12


def test_controls_turn_into_bend_and_cc_events_only_where_they_change():
    c = R.Controls(np.array([0.0, 0.0, 50.0, 50.0]), np.array([100.0, 100.0, 100.0, 90.0]))
    ev = c.events(4 * R.BLOCK, offset_cents=100.0)
    assert [e[:3] for e in ev if e[1] == -2] == [(0, -2, 4096), (2 * R.BLOCK, -2, 6144)]
    assert [e[:3] for e in ev if e[1] == -1] == [(0, -1, 100), (3 * R.BLOCK, -1, 90)]


# ------------------------------------------------------------------ recording

def test_random_eq_is_smooth_and_bounded():
    f = np.linspace(20, 8000, 2000)
    for seed in range(20):
        g = Rec.Eq.random(_rng(seed)).gain_db(f)
        assert np.abs(g).max() <= Rec.EQ_DB + 1e-9
        assert np.abs(np.diff(g)).max() < 0.5                     # no narrow notches
    x = _rng(0).standard_normal(SR)
    np.testing.assert_allclose(Rec.Eq(0.0)(x), x, atol=1e-9)


def test_noise_floor_level_is_in_range():
    for seed in range(10):
        x, info = Rec.noise_floor(SR, _rng(seed))
        db = 20 * np.log10(np.sqrt(np.mean(x ** 2)))
        assert Rec.NOISE_DBFS[0] - 0.01 <= db <= Rec.NOISE_DBFS[1] + 0.01
        assert db == pytest.approx(info["noise_dbfs"], abs=0.06)


def test_rooms_have_several_characters_and_keep_length():
    kinds = {Rec.room_name(Rec.random_room(_rng(s))) for s in range(40)}
    assert {"dry", "freeverb", "ir-small", "ir-hall"} <= kinds
    x = np.zeros(4000)
    x[100] = 1.0
    y = Rec.ImpulseRoom(_rng(0), "hall")(x)
    assert len(y) == len(x) and y[100] == pytest.approx(1.0, abs=0.7) and np.abs(y[2000:]).max() > 0


def test_low_rate_paths_remove_the_upper_band():
    t = np.arange(2 * SR) / SR
    x = 0.3 * np.sin(2 * np.pi * 440 * t) + 0.3 * np.sin(2 * np.pi * 5000 * t)
    seen = set()
    for seed in range(30):
        y, info = Rec.low_rate_path(x, _rng(seed))
        seen.add(info["path"])
        assert len(y) == len(x)
        spec = np.abs(np.fft.rfft(y[SR // 2:-SR // 2]))
        f = np.fft.rfftfreq(SR, 1 / SR)
        near = lambda hz: spec[np.abs(f - hz) < 20].max()  # noqa: E731
        assert near(440) > 30 * near(5000), info                  # the low tone survives, 5 kHz is gone
    assert seen == set(Rec.PATHS)


# ------------------------------------------------------------------ arrangements

def _chorale() -> R.Work:
    s = np.array([[0, 2, 76], [2, 4, 74]], float)
    a = np.array([[0, 2, 67], [2, 4, 69]], float)
    t = np.array([[0, 2, 60], [2, 4, 62]], float)
    b = np.array([[0, 2, 48], [2, 4, 43]], float)
    return R.Work("x", s, np.concatenate([a, t, b]), 100.0, False, (s, a, t, b), None)


@pytest.mark.parametrize("role", A.ROLES)
def test_violin_takes_the_asked_voice(role):
    work = _chorale()
    for seed in range(6):
        d = A.arrange(work, role, 40, _rng(seed))
        assert d.role == role
        lo, hi = R.PROGRAM_RANGE[40]
        assert d.violin[:, 2].min() >= lo and d.violin[:, 2].max() <= hi
        pos = A.voice_position(d.violin, d.piano if d.doubling is None else d.piano[~np.isin(d.piano[:, 2], d.violin[:, 2] + d.doubling)])
        want = {"top": (0.0, 1.0), "inner": (1.0, 1.0), "bottom": (1.0, 0.0)}[role]
        assert (pos["piano_above"], pos["piano_below"]) == want


@pytest.mark.parametrize("role", A.ROLES)
def test_generated_chords_are_voiced_around_the_tune(role):
    tune = np.array([[0, 1, 72], [1, 2, 76], [2, 3, 74], [3, 4, 79]], float)
    chords = np.array([[0, 4, 0, 0, 4, 7]], float)
    work = R.Work("y", tune, np.zeros((0, 3)), 100.0, True, (tune,), chords)
    d = A.arrange(work, role, 40, _rng(0))
    piano = d.piano if d.doubling is None else d.piano[:-len(d.violin)]
    above = (piano[:, 2] > d.violin[:, 2].max()).any()
    below = (piano[:, 2] < d.violin[:, 2].min()).any()
    assert (above, below) == {"top": (False, True), "inner": (True, True), "bottom": (True, False)}[role]
    assert set(piano[:, 2].astype(int) % 12) <= {0, 4, 7}


# ------------------------------------------------------------------ labels

def test_stems_keep_notes_apart():
    notes = np.array([[0.0, 0.5, 60], [0.45, 1.0, 62], [1.0, 1.5, 64], [2.2, 2.5, 65]], float)
    st = L.assign_stems(notes, gap=0.6)
    assert st[0] != st[1] and st[1] != st[2] and st[0] != st[2]
    assert st[3] == st[0]                     # 0.5 + 0.6 <= 2.2: back to the first stem


def test_labels_follow_the_audio_not_the_note_times():
    """A note that only becomes audible late and rings past its end: the labels follow the level."""
    n = SR * 2
    notes = np.array([[0.2, 0.8, 69.0], [1.2, 1.6, 72.0]])
    t = np.arange(n) / SR
    a = np.where((t >= 0.25) & (t < 0.95), np.sin(2 * np.pi * 440 * t), 0.0)       # speaks 50 ms late, rings 150 ms
    b = np.where((t >= 1.2) & (t < 1.6), 0.5 * np.sin(2 * np.pi * 523 * t), 0.0)
    stem_of = np.array([0, 1])
    centres = frame_centres(130)
    who = L.audible_note(notes, [a, b], stem_of, centres)
    tc = centres / SR
    on0 = tc[who == 0]
    assert 0.22 < on0.min() < 0.27 and 0.92 < on0.max() < 0.98
    on1 = tc[who == 1]
    assert 1.18 < on1.min() < 1.23 and 1.57 < on1.max() < 1.62
    assert (who[(tc > 1.0) & (tc < 1.15)] == -1).all()


def test_louder_release_wins_until_the_new_note_speaks():
    n = SR
    notes = np.array([[0.0, 0.5, 60.0], [0.5, 1.0, 67.0]])
    t = np.arange(n) / SR
    env_a = np.where(t < 0.5, 1.0, np.exp(-(t - 0.5) / 0.05))
    env_b = np.where(t >= 0.5, np.clip((t - 0.5) / 0.1, 0, 1), 0.0)
    who = L.audible_note(notes, [env_a * np.sin(2 * np.pi * 262 * t), env_b * np.sin(2 * np.pi * 392 * t)],
                         np.array([0, 1]), frame_centres(62))
    tc = frame_centres(62) / SR
    switch = tc[who == 1].min()
    assert 0.52 < switch < 0.6                # not at the note-on (0.5): when the new note is the louder


def test_f0_follows_the_bend_curve_and_the_map_rounds_to_rows():
    perf = E.Performance(np.array([[0.0, 1.0, 69.0, 90.0]]),
                         R.Controls(np.linspace(0, 40, 250), np.full(250, 127.0)), "plain")
    times = np.array([0.0, 0.5, 0.99])
    m = L.f0_midi(np.array([0, 0, -1]), perf.notes, times, perf.pitch_at)
    assert m[0] == pytest.approx(69.0) and 69.15 < m[1] < 69.25 and np.isnan(m[2])
    hz = L.midi_to_hz(m)
    assert hz[0] == pytest.approx(440.0) and hz[2] == 0.0
    pm = pitch_map_frames(m)
    assert (pm > 0).sum(axis=0).tolist() == [1, 1, 0]
    assert np.argmax(pm[:, 0]) == DEFAULT_LAYOUT.row(69)


def test_rendered_pitch_labels_are_voiced_while_the_violin_sounds():
    """FluidSynth: a violin note's labels begin at (or after) the note-on and outlast the note-off."""
    sf = R.soundfont_path("TimGM6mb")
    notes = np.array([[0.3, 0.9, 69.0, 100.0]])
    n = int(1.6 * SR)
    nb = -(-n // R.BLOCK)
    audio = R.renderer(sf).render(notes, 40, n, controls=R.Controls(np.zeros(nb), np.full(nb, 127.0)))
    centres = frame_centres(100)
    who = L.audible_note(notes, [audio.astype(np.float64)], np.array([0]), centres)
    tc = centres / SR
    assert tc[who == 0].min() >= 0.29 and tc[who == 0].max() > 0.9
    assert (who[tc < 0.25] == -1).all() and (who[tc > 1.4] == -1).all()


# ------------------------------------------------------------------ soundfonts

def test_hold_out_leaves_the_other_training_soundfonts():
    assert R.training_soundfonts() == list(R.TRAINING_SOUNDFONTS)
    assert R.training_soundfonts("TimGM6mb") == ["FluidR3_GM", "sf_GMbank"]
    assert R.training_soundfonts(["csound"]) == ["FluidR3_GM", "TimGM6mb"]
    with pytest.raises(ValueError, match="not a training soundfont"):
        R.training_soundfonts("MuseScore_General_Lite")
    with pytest.raises(ValueError, match="every training soundfont"):
        R.training_soundfonts(list(R.TRAINING_SOUNDFONTS))


def test_stem_eq_colours_each_stem_and_is_recorded(tmp_path):
    """--stem-eq: a separation set records the limit in its manifest and in each example; a set
    without it keeps the draws (and so the audio) it always had; other tasks refuse it."""
    import json

    from models import data as D

    plain = D.build("separate", 0.25, tmp_path / "plain", ["TimGM6mb"], seed=5, jobs=1, progress=False)
    eq = D.build("separate", 0.25, tmp_path / "eq", ["TimGM6mb"], seed=5, jobs=1, progress=False, stem_eq_db=9.0)
    assert "stem_eq_db" not in plain and eq["stem_eq_db"] == 9.0
    with np.load(tmp_path / "eq" / "ex_000000.npz") as z:
        assert json.loads(str(z["info"]))["stem_eq_db"] == 9.0
        eq_target = z["y"]
    with np.load(tmp_path / "plain" / "ex_000000.npz") as z:
        assert "stem_eq_db" not in json.loads(str(z["info"]))
        plain_target = z["y"]
    assert not np.allclose(eq_target, plain_target)
    assert D.INPUT == D.INPUT_DEFAULTS  # reset after the render
    with pytest.raises(ValueError, match="needs --task separate"):
        D.build("superres", 0.25, tmp_path / "sr", ["TimGM6mb"], jobs=1, progress=False, stem_eq_db=3.0)
    with pytest.raises(ValueError, match="another --out|different data set"):
        D.build("separate", 0.25, tmp_path / "eq", ["TimGM6mb"], seed=5, jobs=1, progress=False)


def test_other_leads_put_another_instrument_on_the_melody(tmp_path):
    """--other-leads 1: every pair's (and pitch example's) melody is one of models.render.OTHER_LEADS
    (recorded in each example's programs and in the manifest); 0 keeps the violin family; other
    tasks refuse it, and a set rendered without it is a different set."""
    import json

    from models import data as D
    from models import render as R

    m = D.build("separate", 0.5, tmp_path / "ol", ["TimGM6mb"], seed=4, jobs=1, progress=False, other_leads=1.0)
    assert m["other_leads"] == 1.0 and D.INPUT == D.INPUT_DEFAULTS
    for f in sorted((tmp_path / "ol").glob("ex_*.npz")):
        with np.load(f) as z:
            info = json.loads(str(z["info"]))
            assert info["programs"][0] in R.OTHER_LEADS
            assert not set(R.OTHER_LEADS) & set(R.VIOLIN_FAMILY + R.PIANO_FAMILY)
            assert (z["y"] > -0.9).mean() > 0.05  # the melody stem sounds
    plain = D.build("separate", 0.25, tmp_path / "plain", ["TimGM6mb"], seed=4, jobs=1, progress=False)
    assert "other_leads" not in plain
    with np.load(tmp_path / "plain" / "ex_000000.npz") as z:
        assert json.loads(str(z["info"]))["programs"][0] in R.VIOLIN_FAMILY
    with pytest.raises(ValueError, match="needs --task separate or pitch"):
        D.build("superres", 0.25, tmp_path / "sr", ["TimGM6mb"], jobs=1, progress=False, other_leads=0.5)
    p = D.build("pitch", 0.25, tmp_path / "p", ["TimGM6mb"], seed=4, jobs=1, progress=False, other_leads=1.0)
    assert p["other_leads"] == 1.0
    with np.load(tmp_path / "p" / "ex_000000.npz") as z:
        assert json.loads(str(z["info"]))["programs"][0] in R.OTHER_LEADS
        assert (z["y"] > 0).any()  # labelled from the audio: the line is voiced somewhere
    with pytest.raises(ValueError, match="0..1"):
        D.build("separate", 0.25, tmp_path / "x", ["TimGM6mb"], jobs=1, progress=False, other_leads=1.5)
    with pytest.raises(ValueError, match="another --out|different data set"):
        D.build("separate", 0.25, tmp_path / "ol", ["TimGM6mb"], seed=4, jobs=1, progress=False)


# ------------------------------------------------------------------ drawn additive instruments

def _plain_timbre(kind: str = "sustained", **kw):
    from models.timbre import Timbre

    base = dict(kind=kind, slope_db_oct=6.0, resonances=(), even_db=0.0, inharmonicity=0.0, attack_s=0.02,
                release_s=0.05, decay_s=1.0 if kind == "struck" else 0.0, noise_db=-120.0)
    return Timbre(**{**base, **kw})


def test_additive_renderer_plays_the_notes_and_curves_it_is_given():
    """The note sounds at its pitch plus the bend curve, only from its block on, swells with CC11 as
    FluidSynth's curves are held per block, and is gone within its release; a struck note decays
    with the key held."""
    from models.timbre import AdditiveRenderer

    n = 3 * SR
    notes = np.array([[0.5, 1.5, 69.0, 100.0]])
    blocks = -(-n // R.BLOCK)
    controls = R.Controls(np.full(blocks, 50.0), np.full(blocks, 127.0))
    y = AdditiveRenderer(_plain_timbre(), seed=1).render(notes, 40, n, controls=controls)
    assert y.dtype == np.float32 and y.shape == (n,)
    assert np.abs(y[: int(0.5 * SR)]).max() == 0.0                 # nothing before the note's block
    assert np.abs(y[int(1.5 * SR) + int(0.5 * SR):]).max() < 1e-4  # gone 10 releases after the key
    seg = y[int(0.7 * SR):int(1.4 * SR)] * np.hanning(int(0.7 * SR))
    spec = np.abs(np.fft.rfft(seg, 16 * len(seg)))
    f_peak = np.argmax(spec) * SR / (16 * len(seg))
    assert abs(1200 * np.log2(f_peak / (440.0 * 2 ** (50 / 1200)))) < 5  # the bend is heard
    soft = R.Controls(np.zeros(blocks), np.full(blocks, 64.0))
    y_soft = AdditiveRenderer(_plain_timbre(), seed=1).render(notes, 40, n, controls=soft)
    ratio = np.sqrt(np.mean(y_soft[SR:int(1.4 * SR)] ** 2) / np.mean(y[SR:int(1.4 * SR)] ** 2))
    assert ratio == pytest.approx((64 / 127) ** 2, rel=0.02)        # CC11 as amplitude, squared
    struck = AdditiveRenderer(_plain_timbre("struck", attack_s=0.002), seed=1).render(notes, 0, n)
    early, late = (np.sqrt(np.mean(struck[int(t * SR):int((t + 0.1) * SR)] ** 2)) for t in (0.55, 1.35))
    assert late < 0.5 * early                                        # it dies away, key held or not


def test_drawn_timbres_differ_and_stay_within_the_band():
    """Two draws give two instruments (different spectra for one note), no partial above the
    top of the 16 kHz band, and the same seed gives the same instrument."""
    from models.timbre import Timbre, random_renderer

    notes = np.array([[0.1, 0.9, 60.0, 90.0]])
    ys = [random_renderer(np.random.default_rng(s), "sustained").render(notes, 40, SR) for s in (1, 2, 1)]
    spectra = [np.abs(np.fft.rfft(y[int(0.3 * SR):int(0.8 * SR)])) for y in ys]
    assert np.array_equal(ys[0], ys[2])
    a, b = (s / s.sum() for s in spectra[:2])
    assert np.abs(a - b).sum() > 0.2
    for s in spectra:
        f = np.fft.rfftfreq(int(0.5 * SR), 1 / SR)
        assert s[f > 7900].sum() < 1e-3 * s.sum()
    with pytest.raises(ValueError, match="unknown timbre kind"):
        Timbre.random(np.random.default_rng(0), "blown")


def test_synth_timbres_draw_the_instruments_of_a_separation_pair(tmp_path):
    """--synth-timbres 1: both parts of every pair are drawn instruments (recorded per example and
    in the manifest), the melody stem still sounds; other tasks and shares outside 0..1 are
    refused, and a set rendered without it is a different set."""
    import json

    from models import data as D

    m = D.build("separate", 0.5, tmp_path / "st", ["TimGM6mb"], seed=4, jobs=1, progress=False, synth_timbres=1.0)
    assert m["synth_timbres"] == 1.0 and D.INPUT == D.INPUT_DEFAULTS
    for f in sorted((tmp_path / "st").glob("ex_*.npz")):
        with np.load(f) as z:
            assert json.loads(str(z["info"]))["synth_timbres"] == ["melody", "accompaniment"]
            assert (z["y"] > -0.9).mean() > 0.05
    with pytest.raises(ValueError, match="needs --task separate"):
        D.build("pitch", 0.25, tmp_path / "p", ["TimGM6mb"], jobs=1, progress=False, synth_timbres=0.5)
    with pytest.raises(ValueError, match="0..1"):
        D.build("separate", 0.25, tmp_path / "x", ["TimGM6mb"], jobs=1, progress=False, synth_timbres=-0.1)
    with pytest.raises(ValueError, match="another --out|different data set"):
        D.build("separate", 0.25, tmp_path / "st", ["TimGM6mb"], seed=4, jobs=1, progress=False)
