"""Pitch task: decoding pitch maps, the 10 ms track, notes, writers, CLI, and the sine core in the engine."""
import csv
import json
from pathlib import Path

import numpy as np
import pretty_midi
import pytest
import soundfile as sf

import streamproc
from streamproc.cli import main
from streamproc.engine import Engine
from streamproc.pitch import PitchTrack, frames_to_grid, notes_from_track, track_pitch, write_csv, write_json, write_midi
from streamproc.pitchmap import DEFAULT_LAYOUT, decode_pitchmap, hz_to_midi, midi_to_hz, voicing_threshold
from streamproc.tasks import build_core, build_engine, resolve, shipped_model
from standins import LoudestBandModel

ROWS = DEFAULT_LAYOUT.n_bins


def _map(rows_values: dict[int, float], n_frames: int = 1) -> np.ndarray:
    pm = np.full((n_frames, ROWS), -1.0)
    for r, v in rows_values.items():
        pm[:, r] = v
    return pm


# ----------------------------------------------------------------------------- decoding

def test_decode_single_rows_exactly():
    rows = np.array([0, 1, 47, 48, 100, ROWS - 1])
    pm = np.full((len(rows), ROWS), -1.0)
    pm[np.arange(len(rows)), rows] = 1.0
    midi, voiced = decode_pitchmap(pm, DEFAULT_LAYOUT)
    assert np.array_equal(midi, 36.0 + rows / 2.0)
    assert voiced.all()


def test_decode_refines_between_rows():
    midi, _ = decode_pitchmap(_map({48: 1.0, 49: 1.0}), DEFAULT_LAYOUT)
    assert midi[0] == pytest.approx(36 + 48.5 / 2)        # two equal rows: halfway
    midi, _ = decode_pitchmap(_map({47: 0.0, 48: 1.0}), DEFAULT_LAYOUT, decoder="centroid3")
    assert midi[0] == pytest.approx(36 + (48 - 1 / 3) / 2)  # heights 1 and 2 above -1: a third of a row down
    midi, _ = decode_pitchmap(_map({0: 1.0, 1: 0.0}), DEFAULT_LAYOUT, decoder="centroid3")  # edge row
    assert midi[0] == pytest.approx(36 + (1 / 3) / 2)


def test_default_decoder_reads_a_soft_target_exactly():
    """The default reads back the centre of a sampled Gaussian (the soft training target) to well
    under a cent wherever it falls between rows; the 3-row centroid misses by several cents."""
    rows = np.arange(ROWS)
    for centre in (60.0, 60.2, 60.37, 60.5, 61.9):
        pm = (2.0 * np.exp(-0.5 * ((rows - centre) / 1.0) ** 2) - 1.0)[None]
        got = (decode_pitchmap(pm, DEFAULT_LAYOUT)[0][0] - 36.0) * 2
        assert abs(got - centre) * 50 < 0.1, centre
    pm = (2.0 * np.exp(-0.5 * ((rows - 60.3) / 1.0) ** 2) - 1.0)[None]
    assert abs((decode_pitchmap(pm, DEFAULT_LAYOUT, decoder="centroid3")[0][0] - 36.0) * 2 - 60.3) * 50 > 2


def test_sub_row_decoders_on_a_bump_between_rows():
    """A lit bump centred 0.3 rows above row 60: every sub-row decoder lands nearer the centre than
    the row itself (argmax, the reference, stays on the row); one lit row decodes exactly by all."""
    from streamproc.pitchmap import DECODERS

    rows = np.arange(ROWS)
    pm = (2.0 * np.exp(-0.5 * ((rows - 60.3) / 0.7) ** 2) - 1.0)[None]
    single = _map({60: 1.0})
    for name in DECODERS:
        got = (decode_pitchmap(pm, DEFAULT_LAYOUT, decoder=name)[0][0] - 36.0) * 2
        assert decode_pitchmap(single, DEFAULT_LAYOUT, decoder=name)[0][0] == pytest.approx(36 + 30.0)
        assert (got == 60.0) if name == "argmax" else (60.1 < got < 60.45), (name, got)
    with pytest.raises(ValueError, match="unknown pitch decoder"):
        decode_pitchmap(pm, DEFAULT_LAYOUT, decoder="nope")


def test_a_model_may_name_its_decoder():
    from streamproc.pitch_stages import PitchDecode
    from streamproc.config import DEFAULT

    with pytest.raises(streamproc.UserError, match="unknown pitch decoder"):
        PitchDecode(DEFAULT, DEFAULT_LAYOUT, decoder="nope")

    class Parabolic(LoudestBandModel):
        pitch_decoder = "parabolic"

    assert [s for s in build_core(resolve("pitch", None), Parabolic()).stages][-1].decoder == "parabolic"


def test_decode_voicing_threshold():
    pm = np.concatenate([_map({60: -0.5}), _map({60: 0.3}), _map({})])
    assert voicing_threshold(DEFAULT_LAYOUT, 0.5) == 0.0
    assert decode_pitchmap(pm, DEFAULT_LAYOUT, threshold=0.0)[1].tolist() == [False, True, False]
    assert decode_pitchmap(pm, DEFAULT_LAYOUT, threshold=-0.6)[1].tolist() == [True, True, False]
    assert decode_pitchmap(pm, DEFAULT_LAYOUT, threshold=0.5)[1].tolist() == [False, False, False]
    assert decode_pitchmap(np.zeros((0, ROWS)), DEFAULT_LAYOUT)[0].shape == (0,)


# ----------------------------------------------------------------------------- notes and writers

def _track(labels: list, level_db: float = -20.0) -> PitchTrack:
    """A track from MIDI labels per 10 ms (None = unvoiced), each detuned a little."""
    f0 = np.array([0.0 if m is None else float(midi_to_hz(m + 0.2)) for m in labels])
    n = len(f0)
    return PitchTrack(np.arange(n) * 0.01, f0, np.full(n, level_db), 44100, "test")


def test_notes_tolerate_glitches_and_drop_short_runs():
    labels = ([60] * 30 + [61] * 2 + [60] * 10 + [None] * 2 + [60] * 18  # one note with a blip and a dropout
              + [None] + [62] * 20                                       # one-point gap: a new note
              + [None] * 10 + [64] * 3 + [None] * 5                      # 30 ms: too short
              + [65] * 7)                                                # 70 ms: kept
    notes = notes_from_track(_track(labels, -30.0))
    got = [(n.start, n.end, n.pitch) for n in notes]
    assert got == [(0.0, 0.62, 60), (0.63, 0.83, 62), (1.01, 1.08, 65)]
    assert all(n.velocity == round(127 * 0.5) for n in notes)
    assert notes_from_track(_track(labels), min_duration=0.1)[-1].pitch == 62
    assert notes_from_track(_track([None] * 20)) == []


def test_csv_json_midi_read_back(tmp_path):
    tr = _track([None] * 3 + [69] * 40 + [None] * 2 + [72] * 30)
    write_csv(tr, tmp_path / "t.csv")
    text = (tmp_path / "t.csv").read_text()
    assert text.splitlines()[0] == "time,f0"
    rows = list(csv.DictReader(text.splitlines()))
    assert len(rows) == len(tr.times)
    assert [r["time"] for r in rows[:3]] == ["0.000", "0.010", "0.020"] and rows[0]["f0"] == "0"
    assert float(rows[3]["f0"]) == pytest.approx(float(midi_to_hz(69.2)), abs=0.01)

    notes = notes_from_track(tr)
    write_midi(notes, tmp_path / "t.mid")
    pm = pretty_midi.PrettyMIDI(str(tmp_path / "t.mid"))
    got = pm.instruments[0].notes
    assert [(g.pitch, g.velocity) for g in got] == [(n.pitch, n.velocity) for n in notes]
    assert [g.pitch for g in got] == [69, 72]
    assert np.allclose([(g.start, g.end) for g in got], [(n.start, n.end) for n in notes], atol=0.003)

    write_json(tr, notes, tmp_path / "t.json")
    doc = json.loads((tmp_path / "t.json").read_text())
    assert doc["model"] == "test" and doc["sample_rate"] == 44100
    assert len(doc["times"]) == len(doc["f0"]) == len(doc["voiced"]) == len(tr.times)
    assert doc["voiced"][:4] == [False, False, False, True]
    assert [n["pitch"] for n in doc["notes"]] == [69, 72]
    assert not list(tmp_path.glob(".t.*"))  # atomic writes leave no temporaries


# ----------------------------------------------------------------------------- the sine core

def _in_pieces(engine, x, sizes):
    """Pushes x cut into pieces of the given sizes, repeated as needed."""
    engine.reset()
    cuts = np.cumsum(np.resize(sizes, len(x)))
    return np.concatenate([engine.push(piece) for piece in np.split(x, cuts[cuts < len(x)])])


@pytest.mark.parametrize("rate,profile", [(16000, "default"), (44100, "default"), (16000, "low-latency")])
def test_pitch_core_block_size_invariance(rate, profile, tone):
    x = tone(rate, 0.6) * (np.arange(int(rate * 0.6)) > rate * 0.2)  # silence, then the melody
    e = build_engine(resolve("pitch", None, profile), LoudestBandModel(), rate)
    whole = _in_pieces(e, x, [len(x)])
    assert np.abs(whole).max() > 0.05
    rng = np.random.default_rng(5)
    for sizes in ([1], [333], [64, 1, 4096, 7], list(rng.integers(1, 700, size=40))):
        y = _in_pieces(e, x, sizes)
        assert len(y) == len(whole) == len(x) - e.latency_samples
        assert np.max(np.abs(y - whole)) <= 1e-9


def test_pitch_core_latency_is_exact():
    spec = resolve("pitch", None, "quality")  # the model's own chunking
    core = build_core(spec, LoudestBandModel())
    chunker_frames = LoudestBandModel.new_frames - 1 + LoudestBandModel.lookahead_frames
    assert core.latency_samples == 255 + chunker_frames * 256 + 512
    x = np.random.default_rng(0).standard_normal(16000) * 0.1
    Engine(core, 16000).render(x, block=1)  # enough: never runs short
    core.latency_samples -= 1                      # one sample less: the engine runs short
    with pytest.raises(RuntimeError, match="underrun"):
        Engine(core, 16000).render(x, block=1)


def _zero_crossing_rate_hz(y, rate):
    """Local frequency from the spacing of upward zero crossings, per crossing (time, Hz)."""
    up = np.flatnonzero((y[:-1] <= 0) & (y[1:] > 0))
    return up[1:], rate / np.diff(up)


def test_sine_output_is_time_aligned_and_as_loud_as_the_input(tone):
    rate = 16000
    t = np.arange(rate) / rate
    t0 = 0.5  # a 300 Hz tone turns into a 600 Hz one here (same level: the loudest band moves at t0)
    x = 0.2 * np.sin(2 * np.pi * np.cumsum(np.where(t < t0, 300.0, 600.0)) / rate)
    x[: rate // 5] = 0.0  # and silence before 0.2 s
    # level off: the stand-in voices by absolute level, and a followed gain lifts the frames that
    # reach into the first onset of a stream (by up to one rise step) before it has measured it
    y = streamproc.Processor("pitch", model=LoudestBandModel(), level="off")(x, rate)
    assert y.shape == x.shape
    on = np.flatnonzero(np.abs(y) > 1e-3)[0]
    # the tone fades in where the input starts: the stand-in voices any frame whose 64 ms window
    # reaches into the tone, so up to half a window early, never late
    assert -512 <= on - rate // 5 <= 0, on - rate // 5
    pos, f = _zero_crossing_rate_hz(y, rate)
    early, late = np.median(f[(pos > 0.3 * rate) & (pos < 0.45 * rate)]), np.median(f[pos > 0.6 * rate])
    assert late > 1.3 * early
    after = pos > 0.3 * rate
    switch = pos[after][np.flatnonzero(f[after] > np.sqrt(early * late))[0]]
    assert abs(switch - t0 * rate) <= 256, switch - t0 * rate
    steady = slice(int(0.3 * rate), int(0.45 * rate))
    assert np.sqrt(np.mean(y[steady] ** 2)) == pytest.approx(np.sqrt(np.mean(x[steady] ** 2)), rel=0.1)


def test_a_model_can_carry_its_own_voicing_threshold(tone):
    class Picky(LoudestBandModel):
        voicing_threshold = 0.99  # brighter than any frame of the tone

    x = tone(16000, 0.5)
    assert np.abs(streamproc.Processor("pitch", model=LoudestBandModel())(x, 16000)).max() > 0.05
    assert np.abs(streamproc.Processor("pitch", model=Picky())(x, 16000)).max() == 0.0
    Picky.voicing_threshold = "loud"
    with pytest.raises(streamproc.UserError, match="voicing_threshold"):
        build_core(resolve("pitch", None), Picky())


def test_pitch_task_needs_a_pitch_model():
    class MelModel(LoudestBandModel):
        output_kind = "mel"

    with pytest.raises(streamproc.UserError, match="pitch map"):
        build_core(resolve("pitch", None), MelModel())


def test_track_grid_and_interpolation():
    class FixedRow(LoudestBandModel):
        def run(self, window):
            out = np.full(window.shape, -1.0, np.float32)
            out[50] = np.where(window.max(axis=0) > -0.5, 1.0, -1.0)  # MIDI 61 where not silent
            return out

    rate = 22050
    x = np.zeros(int(1.234 * rate))
    x[int(0.4 * rate): int(0.9 * rate)] = 0.1 * np.random.default_rng(1).standard_normal(int(0.5 * rate))
    tr = track_pitch(x, rate, model=FixedRow())
    assert len(tr.times) == 124 and tr.times[0] == 0.0 and tr.times[-1] == pytest.approx(1.23)
    assert tr.model == "FixedRow" and tr.sample_rate == rate
    v = tr.voiced
    assert np.allclose(tr.f0[v], midi_to_hz(61.0))
    on = tr.times[v]
    assert 0.33 < on[0] < 0.43 and 0.87 < on[-1] < 0.97  # the noise burst, smeared by the 64 ms window
    assert v[np.argmin(np.abs(tr.times - 0.65))] and not v[:30].any()
    assert tr.f0_guess.shape == tr.f0.shape and np.array_equal(tr.f0_guess[v], tr.f0[v])
    with pytest.raises(streamproc.UserError, match="mono"):
        track_pitch(np.zeros((2, 100)), rate, model=FixedRow())


# ----------------------------------------------------------------------------- the CLI

def _fails(capsys, argv, needle, *never_written):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("streamproc: error:") and needle in err, err
    for p in never_written:
        assert not p.exists()
        assert not list(p.parent.glob(f".{p.name}.*"))


def test_pitch_cli_rejects_bad_outputs(tmp_path, capsys, tone):
    src = tmp_path / "in.wav"
    sf.write(src, tone(16000, 0.3), 16000)
    for name in ("out.wav", "out.txt", "out"):
        _fails(capsys, ["pitch", str(src), str(tmp_path / name)], "unsupported output format", tmp_path / name)
    _fails(capsys, ["pitch", str(tmp_path / "nope.wav"), str(tmp_path / "o.csv")], "not found", tmp_path / "o.csv")
    _fails(capsys, ["pitch", str(src), str(tmp_path / "o.csv"), "--plot", str(tmp_path / "p.jpg")],
           "unsupported output format", tmp_path / "o.csv", tmp_path / "p.jpg")
    _fails(capsys, ["pitch", str(src), str(tmp_path / "o.csv"), "--model", str(tmp_path / "m.onnx")],
           "not found", tmp_path / "o.csv")
    _fails(capsys, ["render", str(src), str(tmp_path / "o.csv"), "--task", "separate"],
           "unsupported output format", tmp_path / "o.csv")


needs_model = pytest.mark.skipif(shipped_model("pitch") is None, reason="no pitch model ships yet")


@needs_model
def test_cli_writes_csv_for_stereo_input(tmp_path, tone):
    src = tmp_path / "in.flac"
    sf.write(src, np.stack([tone(22050, 0.8), tone(22050, 0.8, 3)], axis=1), 22050)
    for argv in (["pitch", str(src), str(tmp_path / "o.csv")],
                 ["render", str(src), str(tmp_path / "r.csv"), "--task", "pitch"]):
        assert main(argv) == 0
    lines = (tmp_path / "o.csv").read_text().splitlines()
    assert lines[0] == "time,f0" and len(lines) == 1 + 80
    assert (tmp_path / "r.csv").read_text() == (tmp_path / "o.csv").read_text()


@needs_model
def test_render_pitch_track_applies_profile_and_block_and_refuses_out_rate(tmp_path, capsys):
    """``render --task pitch OUT.csv``: --profile changes the model's chunking (so the track),
    --block only how the file is read (the track stays the same), --out-rate has no meaning."""
    src = Path(streamproc.__file__).parent / "examples" / "melody.flac"
    tracks = {}
    for name, extra in [("quality", []), ("low", ["--profile", "low-latency"]), ("block", ["--block", "1000"]),
                        ("low-block", ["--profile", "low-latency", "--block", "777"])]:
        assert main(["render", str(src), str(tmp_path / f"{name}.csv"), "--task", "pitch", "--quiet", *extra]) == 0
        tracks[name] = (tmp_path / f"{name}.csv").read_text()
    assert tracks["block"] == tracks["quality"] and tracks["low-block"] == tracks["low"]
    assert tracks["low"] != tracks["quality"]
    low = track_pitch(sf.read(src)[0], sf.info(str(src)).samplerate, profile="low-latency")
    assert len(tracks["low"].splitlines()) == 1 + len(low.times)
    _fails(capsys, ["render", str(src), str(tmp_path / "o.csv"), "--task", "pitch", "--out-rate", "44100"],
           "--out-rate", tmp_path / "o.csv")


def test_frame_tracks_runs_the_core_under_its_cfg():
    """``frame_tracks(cfg=...)`` frames (and chunks) at that configuration's hop, not the default's."""
    from streamproc.config import SpectralConfig
    from streamproc.pitch import frame_tracks

    x = np.random.default_rng(0).standard_normal(8000) * 0.1
    counts = {}
    for hop in (256, 128):
        cfg = SpectralConfig(n_fft=4 * hop, hop=hop)
        midi, voiced, rms, change_at = frame_tracks(x, LoudestBandModel(), cfg)
        assert len(midi) == len(voiced) == len(rms) == len(change_at)
        counts[hop] = len(midi)
    assert counts[128] >= 2 * counts[256] - 4


@needs_model
def test_shipped_model_tracks_the_bundled_melody():
    """Loose, so that it holds for every better model: melody.flac (a test-split tune on violin)
    against its true f0 (melody-f0.csv, from the notes), away from note changes."""
    examples = Path(streamproc.__file__).parent / "examples"
    x, rate = sf.read(examples / "melody.flac")
    ref = np.loadtxt(examples / "melody-f0.csv", delimiter=",", skiprows=1)
    tr = track_pitch(x, rate)
    n = min(len(tr.times), len(ref))
    assert np.allclose(tr.times[:n], ref[:n, 0])
    f0, truth = tr.f0[:n], ref[:n, 1]
    steady = (truth > 0) & (np.abs(np.diff(truth, prepend=0)) == 0) & (np.abs(np.diff(truth, append=0)) == 0)
    steady &= np.convolve(steady, np.ones(7), "same") == 7  # 30 ms either side of a change or rest
    hit = (f0 > 0) & (np.abs(1200 * np.log2(np.where(f0 > 0, f0, 1) / np.where(truth > 0, truth, 1))) < 50)
    assert np.mean(hit[steady]) >= 0.7, np.mean(hit[steady])
    notes = notes_from_track(tr)
    assert {n.pitch for n in notes} & set(np.rint(hz_to_midi(truth[truth > 0])).astype(int))


def test_oversampled_frames_interleave_passes_a_fraction_of_a_hop_apart():
    """``frame_tracks(oversample=K)``: K runs of the core, the j-th j/K of a hop later, interleaved;
    the first run is the plain one, frame for frame, whatever the blocks."""
    from streamproc.config import DEFAULT
    from streamproc.pitch import frame_tracks

    x = np.random.default_rng(0).standard_normal(9000) * 0.1
    plain = frame_tracks(x, LoudestBandModel())
    late = frame_tracks(x[DEFAULT.hop // 2:], LoudestBandModel())
    blocks = [x[i:i + 777] for i in range(0, len(x), 777)]
    for source in (x, blocks):
        both = frame_tracks(source, LoudestBandModel(), oversample=2)
        for i in range(3):  # midi, voiced, rms (change_at depends on the neighbouring frame)
            assert np.array_equal(both[i][0::2], plain[i][:len(both[i][0::2])])
            assert np.array_equal(both[i][1::2], late[i][:len(both[i][1::2])])
        assert len(both[0]) >= 2 * len(plain[0]) - 4


def test_oversampling_places_a_note_change_to_half_a_hop():
    """Frames 8 ms apart put a change no further than 4 ms + the grid's 10 ms from where it is
    (a stand-in model that switches row with the loudest band); 1 and 2 passes agree elsewhere."""
    class LoudestRow(LoudestBandModel):
        def run(self, window):
            out = np.full(window.shape, -1.0, np.float32)
            out[40, :] = np.where(np.argmax(window, axis=0) < 40, 1.0, -1.0)   # low tone: MIDI 56
            out[90, :] = np.where(np.argmax(window, axis=0) >= 40, 1.0, -1.0)  # high tone: MIDI 81
            return out

    rate = 16000
    t = np.arange(rate) / rate
    change = 0.5037
    x = 0.3 * np.where(t < change, np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 1760 * t))
    one = track_pitch(x, rate, model=LoudestRow(), oversample=1)
    two = track_pitch(x, rate, model=LoudestRow(), oversample=2)
    assert np.array_equal(one.times, two.times)

    def switch(tr):
        high = tr.f0_guess > midi_to_hz(70.0)
        return tr.times[np.argmax(high[20:]) + 20]
    assert abs(switch(two) - change) <= 0.004 + 0.01 + 1e-9
    steady = np.abs(one.times - change) > 0.1
    assert np.allclose(one.f0_guess[steady], two.f0_guess[steady])
    with pytest.raises(streamproc.UserError, match="oversample"):
        track_pitch(x, rate, model=LoudestRow(), oversample=3)
    with pytest.raises(streamproc.UserError, match="oversampling"):
        track_pitch(x, rate, model=LoudestRow(), profile="live", oversample=2)


def test_note_change_at_is_where_the_new_row_overtakes_the_old():
    """0 at the first frame, 1 at the second, from how far each frame's brightest row leads."""
    from streamproc.pitchmap import DEFAULT_LAYOUT as L, note_change_at

    def frame(old: float, new: float) -> np.ndarray:
        m = np.full(L.n_bins, L.off)
        m[40], m[60] = old, new
        return m
    before = np.stack([frame(1.0, -1.0), frame(1.0, 0.0), frame(1.0, -1.0), frame(1.0, -1.0)])
    after = np.stack([frame(-1.0, 1.0), frame(-1.0, 1.0), frame(0.0, 1.0), frame(1.0, -1.0)])
    # heights above off: leads 2 / 2, 1 / 2, 2 / 1; the last pair holds one note: half-way
    assert np.allclose(note_change_at(before, after, L), [0.5, 1 / 3, 2 / 3, 0.5])
    with pytest.raises(ValueError, match="one shape"):
        note_change_at(before, after[:2], L)


def test_the_grid_switches_notes_where_change_at_says():
    from streamproc.config import DEFAULT
    from streamproc.pitch_stages import described_sample

    midi = np.array([60.0, 60.0, 60.0, 64.0, 64.0, 64.0])
    voiced, rms = np.ones(6, bool), np.full(6, 0.1)
    at = described_sample(np.arange(6), DEFAULT, 0) / DEFAULT.sample_rate
    for where in (0.1, 0.5, 0.9):
        change_at = np.full(6, 0.5)
        change_at[2] = where
        times, _, _, guess = frames_to_grid(midi, voiced, rms, 0.1, DEFAULT, 0, 1, change_at)
        switch = at[2] + where * (at[3] - at[2])
        inside = (times > at[2]) & (times < at[3])
        got = 69 + 12 * np.log2(guess[inside] / 440.0)
        assert inside.sum() >= 1 and np.allclose(got, np.where(times[inside] < switch, 60.0, 64.0), atol=1e-9)


class BothRows(LoudestBandModel):
    """Stand-in that lights the low tone's row and the high tone's row, each as bright as its
    band is loud: across a change both glow, as a trained model's map does."""

    def run(self, window):
        out = np.full((self.n_outputs, window.shape[1]), DEFAULT_LAYOUT.off, np.float32)
        out[40], out[90] = window[:40].max(axis=0), window[40:].max(axis=0)
        return out


def test_a_note_change_is_placed_where_the_new_note_overtakes_the_old():
    """Read off both frames' maps, a change lands within 5 ms of the truth wherever it falls
    between two frames, with one pass or two (half-way between frames: up to 10 ms off)."""
    rate = 16000
    t = np.arange(rate) / rate
    for change in 0.5 + np.arange(8) * 0.002:
        x = 0.3 * np.where(t < change, np.sin(2 * np.pi * 220 * t), np.sin(2 * np.pi * 1760 * t))
        for k in (1, 2):
            tr = track_pitch(x, rate, model=BothRows(), oversample=k)
            high = tr.f0_guess > midi_to_hz(70.0)
            switch = tr.times[np.argmax(high[20:]) + 20]
            assert abs(switch - change) <= 0.005 + 1e-9, (change, k, switch)


def test_note_change_points_do_not_depend_on_the_blocks():
    """The passes are interleaved as their frames arrive, holding only the pending maps: the
    change points are the same whole or in odd blocks, and are those of the whole maps."""
    from streamproc.pitch import frame_tracks

    rate = 16000
    t = np.arange(rate) / rate
    x = 0.3 * np.sin(2 * np.pi * np.cumsum(np.where((t * 7).astype(int) % 2, 220.0, 1760.0)) / rate)
    whole = frame_tracks(x, BothRows(), oversample=2)
    blocks = frame_tracks([x[i:i + 777] for i in range(0, len(x), 777)], BothRows(), oversample=2)
    for a, b in zip(whole, blocks):
        assert np.array_equal(a, b)
    moved = whole.change_at != 0.5
    assert moved.sum() >= 6 and np.all((whole.change_at >= 0) & (whole.change_at <= 1))
