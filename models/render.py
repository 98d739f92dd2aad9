"""Score -> note lists -> audio at the model rate, for the training-data renderer.

Scores come from the music21 corpus; audio from FluidSynth (pyfluidsynth) driven event by
event at 16 kHz directly (no resampling step, one synth per soundfont reused across
examples, which makes rendering far faster than real time on one core). Every random choice
is drawn from a ``numpy.random.Generator`` passed in, so a (seed, example index) pair always
yields the same audio.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from streamproc.blueprint import harmonic_blueprint  # noqa: F401  (one copy: the runtime's; models.data uses it)

from streamproc.config import SAMPLE_RATE  # noqa: E402,F401 (audio is rendered at the model rate)

VIOLIN_FAMILY = (40, 41, 42, 110)  # violin, viola, cello, fiddle
VIOLINS = (40, 110)                # the timbres the synth task targets
PIANO_FAMILY = (0, 1, 2, 4)        # acoustic grand, bright, electric grand, e-piano

# playable ranges (MIDI) so that transposition never asks an instrument for a missing note
PROGRAM_RANGE = {40: (55, 100), 110: (55, 100), 41: (48, 93), 42: (36, 84),
                 73: (60, 96), 68: (58, 91), 71: (50, 91), 56: (55, 82), 65: (49, 81), 60: (41, 77),
                 52: (48, 79), 48: (36, 96), 50: (36, 96), 81: (36, 96)}
# sustained melody instruments outside the violin family: flute, oboe, clarinet, trumpet, alto sax,
# horn, choir, string ensemble, synth strings, saw lead. ``models.data --other-leads`` puts them on the
# melody of some separation pairs, so that "the melody instrument" is told from the piano by more
# than a violin's spectrum (the three training soundfonts hold only two distinct violins)
OTHER_LEADS = (73, 68, 71, 56, 65, 60, 52, 48, 50, 81)


def _known_soundfonts() -> dict[str, Path]:
    import pretty_midi

    return {
        "FluidR3_GM": Path("/usr/share/sounds/sf2/FluidR3_GM.sf2"),
        "TimGM6mb": Path(pretty_midi.__file__).parent / "TimGM6mb.sf2",
        "sf_GMbank": Path("/usr/share/sounds/sf2/sf_GMbank.sf2"),          # Debian csound-soundfont
        "MuseScore_General_Lite": Path("/usr/share/sounds/sf3/MuseScore_General_Lite.sf3"),  # evaluation only
        "OPL-3_FM_128M": Path("/usr/share/sounds/sf2/OPL-3_FM_128M.sf2"),  # evaluation only: FM, unlike any sampled font
    }


ALIASES = {"csound": "sf_GMbank", "fluidr3": "FluidR3_GM", "musescore": "MuseScore_General_Lite", "opl3": "OPL-3_FM_128M"}


def soundfont_path(name_or_path: str) -> Path:
    """Resolve a known soundfont name ('FluidR3_GM', 'TimGM6mb', 'sf_GMbank' alias 'csound',
    'MuseScore_General_Lite' alias 'musescore', 'OPL-3_FM_128M' alias 'opl3'; case-insensitive) or any .sf2/.sf3 path to a file."""
    if name_or_path.lower().endswith((".sf2", ".sf3")):
        return Path(name_or_path)
    known = {k.lower(): v for k, v in _known_soundfonts().items()}
    key = ALIASES.get(name_or_path.lower(), name_or_path).lower()
    return known.get(key, Path(name_or_path))


def soundfont_name(path: Path) -> str:
    return Path(path).stem


# the three soundfonts training may use; every other one (MuseScore's included) is for evaluation
TRAINING_SOUNDFONTS = ("FluidR3_GM", "TimGM6mb", "sf_GMbank")
EVAL_SOUNDFONTS = ("MuseScore_General_Lite", "OPL-3_FM_128M")
# where each one comes from on Debian (a missing soundfont's error names it)
SOUNDFONT_PACKAGES = {"FluidR3_GM": "fluid-soundfont-gm", "sf_GMbank": "csound-soundfont",
                      "MuseScore_General_Lite": "musescore-general-soundfont-small", "OPL-3_FM_128M": "opl3-soundfont"}


def install_hint(path: Path) -> str:
    """' (Debian: apt-get install PACKAGE)' for a known soundfont, else '': for a not-found error."""
    pkg = SOUNDFONT_PACKAGES.get(soundfont_name(path))
    return f" (Debian: apt-get install {pkg})" if pkg else ""


def training_soundfonts(hold_out: str | list[str] | None = None) -> list[str]:
    """The training soundfonts minus those held out (names as in TRAINING_SOUNDFONTS)."""
    out = [soundfont_name(soundfont_path(h)) for h in ([hold_out] if isinstance(hold_out, str) else hold_out or [])]
    bad = [h for h in out if h not in TRAINING_SOUNDFONTS]
    if bad:
        raise ValueError(f"cannot hold out {', '.join(bad)}: not a training soundfont ({' / '.join(TRAINING_SOUNDFONTS)})")
    left = [s for s in TRAINING_SOUNDFONTS if s not in out]
    if not left:
        raise ValueError("every training soundfont is held out")
    return left


# ------------------------------------------------------------------ scores -> notes

@dataclass
class Work:
    """A corpus work reduced to what rendering needs (times in quarter notes)."""

    relpath: str
    melody: np.ndarray  # (n, 3): start_ql, end_ql, midi   -- monophonic top voice
    accomp: np.ndarray  # (m, 3): start_ql, end_ql, midi   -- other voices or a generated part
    qpm: float          # the score's tempo (quarter notes per minute)
    generated_accomp: bool
    # the separate voices, highest first (each monophonic; a lone tune: just the melody)
    voices: tuple = ()
    # a generated accompaniment's harmony: (n, 6) start_ql, end_ql, root_pc, pc, pc, pc
    chords: np.ndarray | None = None

    @property
    def length_ql(self) -> float:
        ends = [a[:, 1].max() for a in (self.melody, self.accomp) if len(a)]
        return float(max(ends)) if ends else 0.0


def _part_notes(part) -> np.ndarray:
    rows = []
    for n in part.stripTies().flatten().notes:
        start = float(n.offset)
        end = start + float(n.quarterLength)
        if end <= start:
            continue  # grace notes
        for p in n.pitches:
            rows.append((start, end, float(p.midi)))
    arr = np.array(rows, dtype=np.float64).reshape(-1, 3)
    return arr[np.lexsort((-arr[:, 2], arr[:, 0]))] if len(arr) else arr


def _monophonic(notes: np.ndarray) -> np.ndarray:
    """Top voice: at each onset keep the highest pitch, cut each note at the next onset."""
    if not len(notes):
        return notes
    keep = []
    for start in np.unique(notes[:, 0]):
        same = notes[notes[:, 0] == start]
        keep.append(same[np.argmax(same[:, 2])])
    mono = np.array(keep)
    mono[:-1, 1] = np.minimum(mono[:-1, 1], mono[1:, 0])
    return mono[mono[:, 1] > mono[:, 0]]


_TRIADS = {0: (0, 4, 7), 5: (5, 9, 0), 7: (7, 11, 2), 9: (9, 0, 4)}  # I IV V vi (major)


def _generated_accomp(melody: np.ndarray, tonic_pc: int, minor: bool, measure_ql: float) -> tuple[np.ndarray, np.ndarray]:
    """A simple piano part under a lone tune: per measure the I/IV/V/vi triad covering most
    of the melody's duration, as a bass note plus a held chord. Returns (notes, chords), chords
    (n, 6): start, end, root pc, the triad's three pcs (for other voicings, see models.arrange)."""
    triads = {0: (0, 3, 7), 5: (5, 8, 0), 7: (7, 11, 2), 8: (8, 0, 3)} if minor else _TRIADS
    rows, chords = [], []
    end = melody[:, 1].max()
    t = 0.0
    while t < end:
        sel = melody[(melody[:, 0] < t + measure_ql) & (melody[:, 1] > t)]
        if len(sel):
            dur = np.minimum(sel[:, 1], t + measure_ql) - np.maximum(sel[:, 0], t)
            pcs = (sel[:, 2].astype(int) - tonic_pc) % 12
            best = max(triads, key=lambda r: (sum(d for d, pc in zip(dur, pcs) if pc in triads[r]), r == 0))
            root = (tonic_pc + best) % 12
            rows.append((t, t + measure_ql, 36 + root))
            chords.append((t, t + measure_ql, root, *[(tonic_pc + iv) % 12 for iv in triads[best]]))
            for iv in triads[best]:
                rows.append((t, t + measure_ql, 48 + (tonic_pc + iv) % 12 + (12 if (tonic_pc + iv) % 12 < 5 else 0)))
        t += measure_ql
    return np.array(rows, dtype=np.float64).reshape(-1, 3), np.array(chords, dtype=np.float64).reshape(-1, 6)


@lru_cache(maxsize=64)
def load_work(relpath: str) -> Work | None:
    """Parse a corpus work; ``None`` when it has no usable notes (parse failures included)."""
    from music21 import corpus, stream, tempo

    try:
        score = corpus.parse(relpath)
    except Exception:  # noqa: BLE001  (music21 raises many types on odd files)
        return None
    if isinstance(score, stream.Opus):
        if not len(score.scores):
            return None
        score = score.scores[0]
    parts = list(score.parts) if hasattr(score, "parts") and len(score.parts) else [score]
    try:
        melody = _monophonic(_part_notes(parts[0]))
    except Exception:  # noqa: BLE001
        return None
    if len(melody) < 8:
        return None
    qpm = 100.0
    marks = score.flatten().getElementsByClass(tempo.MetronomeMark)
    if len(marks) and marks[0].getQuarterBPM():
        qpm = float(np.clip(marks[0].getQuarterBPM(), 50, 180))
    chords = None
    if len(parts) > 1:
        accomp = np.concatenate([_part_notes(p) for p in parts[1:]] or [np.zeros((0, 3))])
        generated = False
        try:
            others = [_monophonic(_part_notes(p)) for p in parts[1:]]
        except Exception:  # noqa: BLE001
            others = []
        voices = [melody] + [v for v in others if len(v)]
        voices.sort(key=lambda v: -float(np.median(v[:, 2])))
    else:
        try:
            key = score.analyze("key")
            tonic, minor = key.tonic.pitchClass, key.mode == "minor"
        except Exception:  # noqa: BLE001
            tonic, minor = 0, False
        ts = score.flatten().getElementsByClass("TimeSignature")
        measure_ql = float(ts[0].barDuration.quarterLength) if len(ts) else 4.0
        accomp, chords = _generated_accomp(melody, tonic, minor, measure_ql)
        generated = True
        voices = [melody]
    return Work(relpath, melody, accomp, qpm, generated, tuple(voices), chords)


def corpus_works(split: str) -> list[str]:
    """Corpus works usable for training data, in a fixed order, filtered by the test split.

    Sources: Bach (chorales: top voice on violin, lower voices on piano) and Ryan's Mammoth
    Collection (one fiddle tune per file, accompaniment generated)."""
    from music21 import corpus

    from .split import corpus_relative, is_test

    out = []
    for p in sorted(str(x) for x in corpus.getPaths()):
        rel = corpus_relative(p)
        top = rel.split("/")[0]
        if top == "bach" and not rel.endswith((".mxl", ".xml", ".musicxml")):
            continue
        if top not in ("bach", "ryansMammoth"):
            continue
        if is_test(rel) == (split == "test"):
            out.append(rel)
    return out


# ------------------------------------------------------------------ notes -> audio

BLOCK = 64  # FluidSynth's internal block: events take effect on block boundaries


def _write_float():
    """fluid_synth_write_float through pyfluidsynth's ctypes handle: float output has no
    dither (fluid_synth_write_s16 dithers from a running table, so int16 renders differ
    from call to call)."""
    from ctypes import c_int, c_void_p

    import fluidsynth

    return fluidsynth.cfunc("fluid_synth_write_float", c_int, ("synth", c_void_p, 1), ("len", c_int, 1),
                            ("lout", c_void_p, 1), ("loff", c_int, 1), ("lincr", c_int, 1),
                            ("rout", c_void_p, 1), ("roff", c_int, 1), ("rincr", c_int, 1))


class FluidRenderer:
    """Renders note lists offline at 16 kHz with one soundfont.

    Renders are reproducible: each one gets a fresh synth (with dynamic sample loading that
    costs ~20 ms, against ~150 ms for a full FluidR3_GM load), because a reused synth keeps
    state that changes the next render (fading voices, channel state); output is float
    (the int16 path dithers from a running table); and every pull is a whole number of
    FluidSynth blocks, with note events on block boundaries (4 ms at 16 kHz)."""

    def __init__(self, soundfont: Path, sample_rate: int = SAMPLE_RATE) -> None:
        self.soundfont = Path(soundfont)
        self.sample_rate = sample_rate
        self._write = _write_float()

    def _synth(self):
        import fluidsynth

        fs = fluidsynth.Synth(gain=0.5, samplerate=float(self.sample_rate),
                              **{"synth.reverb.active": 0, "synth.chorus.active": 0,
                                 "synth.dynamic-sample-loading": 1})
        sfid = fs.sfload(str(self.soundfont))
        if sfid < 0:
            fs.delete()
            raise ValueError(f"cannot load soundfont {self.soundfont}")
        return fs, sfid

    def render(self, notes: np.ndarray, program: int, n_samples: int, bend_cents: float = 0.0,
               controls: "Controls | None" = None) -> np.ndarray:
        """notes (n, 4): start_s, end_s, midi, velocity -> mono float32 of n_samples.

        ``controls``: per-block pitch bend (cents, on top of ``bend_cents``) and expression
        (CC11) curves, sent at every FluidSynth block where they change (models.expression)."""
        fs, sfid = self._synth()
        try:
            fs.program_select(0, sfid, 0, int(program))
            fs.pitch_bend(0, int(round(bend_cents / 100.0 * 4096)))
            events = []
            total = -(-n_samples // BLOCK) * BLOCK
            for s, e, m, v in notes:
                events.append((int(round(s * self.sample_rate / BLOCK)) * BLOCK, 1, int(m), int(v)))
                events.append((int(round(e * self.sample_rate / BLOCK)) * BLOCK, 0, int(m), 0))
            if controls is not None:
                events += controls.events(total, bend_cents)
            events.sort(key=lambda ev: (ev[0], ev[1]))  # controls, then note-offs, then note-ons
            out = np.zeros(total, dtype=np.float32)
            pos = 0
            for at, on, m, v in events:
                at = min(at, total)
                if at > pos:
                    out[pos:at] = self._pull(fs, at - pos)
                    pos = at
                if on == 1:
                    fs.noteon(0, m, v)
                elif on == 0:
                    fs.noteoff(0, m)
                elif on == -2:
                    fs.pitch_bend(0, m)
                else:
                    fs.cc(0, 11, m)
            if pos < total:
                out[pos:] = self._pull(fs, total - pos)
        finally:
            fs.delete()
        return out[:n_samples]

    def _pull(self, fs, n: int) -> np.ndarray:
        left = np.zeros(n, dtype=np.float32)
        right = np.zeros(n, dtype=np.float32)
        self._write(fs.synth, n, left.ctypes.data, 0, 1, right.ctypes.data, 0, 1)
        return 0.5 * (left + right)


@dataclass
class Controls:
    """Controller curves of one performance, one value per FluidSynth block (BLOCK samples):
    pitch bend in cents (range +-2 semitones, FluidSynth's default) and expression (CC11, 0..127)."""

    bend_cents: np.ndarray
    expression: np.ndarray

    def events(self, total: int, offset_cents: float = 0.0) -> list[tuple[int, int, int, int]]:
        """(sample, kind, value, 0) events where a curve changes; kind -2 = bend, -1 = CC11
        (sorted before note events at one instant)."""
        out = []
        n = min(len(self.bend_cents), -(-total // BLOCK))
        bend = np.clip(np.round((self.bend_cents[:n] + offset_cents) / 100.0 * 4096), -8192, 8191).astype(int)
        expr = np.clip(np.round(self.expression[:n]), 0, 127).astype(int)
        for k in range(n):
            if k == 0 or bend[k] != bend[k - 1]:
                out.append((k * BLOCK, -2, int(bend[k]), 0))
            if k == 0 or expr[k] != expr[k - 1]:
                out.append((k * BLOCK, -1, int(expr[k]), 0))
        return out


_RENDERERS: dict[str, FluidRenderer] = {}


def renderer(soundfont: Path) -> FluidRenderer:
    key = str(soundfont)
    if key not in _RENDERERS:
        _RENDERERS[key] = FluidRenderer(soundfont)
    return _RENDERERS[key]
