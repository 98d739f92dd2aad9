"""Deterministic test-split clips for the quality report, one renderer per task, cached as audio.

Every clip comes from a test-split corpus work (``models.split``), rendered with FluidR3_GM (a
training soundfont, but never on these works) by the training-data renderer with the same
augmentation as ``models.data`` builds that task's training pairs, so that the report measures
the models on the distribution they were trained for, minus the works:

- ``separate``: violin + piano duet -> violin stem (``bench.separate_eval.render_clip``);
- ``superres``: solo (30 %) or duet, lead violin family (70 %) or piano family, room on 60 %,
  peak gain; input = through 4 kHz and back with soxr HQ (exactly as in training), reference =
  the original;
- ``synth``: the melody as a harmonic blueprint (``streamproc.blueprint``; fixed 3 harmonics,
  rolloff 0.5, jittered as in training) -> the same
  notes on violin (GM 40), both scaled to one random peak level as in training; plus
  ``Clip.f0``, an audio-aligned f0 reference of that violin rendering every 10 ms, labelled as
  the training data labels pitch (``models.labels``): the melody is rendered again as stems
  (``assign_stems``), a frame is voiced while a note is audible in its own stem
  (``audible_note``), at the note's pitch (no bends here), 0 where unvoiced. The reference
  audio stays the single render (bit for bit as before); the stems add up to it within
  float32 rounding (FluidSynth voices sum), so the labels describe that audio;
- ``pitch`` (score-aligned, the old set; ``clip("pitch", ...)``): a solo violin-family or
  piano-family melody, detuned by -50..+50 cents on half of the clips, room on 60 %;
  reference f0 from the notes (+ detune) every 10 ms, 0 where silent. ``bench.quality`` no
  longer scores it: its labels start at the MIDI note-on, before a bowed note speaks.
- audio-aligned pitch clips (:func:`pitch_clip`, what ``bench.quality`` scores): drawn by the
  training renderer itself (``models.data.audio_clip("pitch", ...)``) with ONE soundfont, so a
  soundfont the model never trained on measures an unseen timbre; reference f0 every 10 ms
  from the rendered audio (voiced while the note is audible in its own stem, following the
  pitch bends: ``models.labels``), 0 where unvoiced.

The separate, superres and synth sets can be rendered with another soundfont (``clip(...,
soundfont=NAME)``: the same draws, another timbre), and the separate set with the violin on an
inner voice (``voice="inner"``: ``bench.separate_eval.render_clip``); the original sets keep
their cache folders. Clip *i* of a task depends only on (seed, i, seconds) (and the soundfont,
and the voice).
Clips are cached under ``bench/out/testsets/`` as float WAV (input, reference) plus a JSON
sidecar (work, notes and/or reference f0, ...). A cached synth clip without its f0 (written
before synth clips carried one) is not reused: it is rendered again (same audio) and rewritten.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf

from streamproc.config import SAMPLE_RATE  # noqa: F401 (the clips' rate: the model rate)

from .common import OUT

CACHE = OUT / "testsets"
VERSION = 1                 # bump when a renderer changes: old caches are then ignored
SOUNDFONT = "FluidR3_GM"
TASKS = ("separate", "superres", "synth", "pitch")
VIOLIN = 40
SYNTH_HARMONICS, SYNTH_ROLLOFF = 3, 0.5
F0_HOP = 0.01               # reference f0 grid (s), as `streamproc pitch` writes it
LOW_RATE = 4000             # superres: the band-limited rate


@dataclass
class Clip:
    """One evaluation clip at 16 kHz: what the task gets, what it should give, and where from."""

    task: str
    index: int
    input: np.ndarray            # float64, 16 kHz
    reference: np.ndarray | None  # float64, 16 kHz (None for pitch: the reference is ``notes``)
    notes: np.ndarray | None     # (n, 3) start_s, end_s, midi (fractional: detune included)
    info: dict
    f0: np.ndarray | None = None  # audio-aligned reference f0 (Hz, 0 = unvoiced) every F0_HOP s:
    #                               audio-aligned pitch clips, and synth clips (of the violin reference)

    @property
    def name(self) -> str:
        return f"{self.task}-{self.index:03d}"

    @property
    def seconds(self) -> float:
        return len(self.input) / SAMPLE_RATE


@lru_cache(maxsize=1)
def test_works() -> tuple[str, ...]:
    """Test-split corpus works (the renderer's sources), in a fixed order."""
    from models.render import corpus_works

    return tuple(corpus_works("test"))


# ------------------------------------------------------------------ reference f0

def f0_reference(notes: np.ndarray, seconds: float, hop: float = F0_HOP) -> tuple[np.ndarray, np.ndarray]:
    """(times, f0 Hz) every ``hop`` s from ``notes`` (start_s, end_s, midi): a frame at time t
    takes the note with start <= t < end, 0 (unvoiced) where none sounds."""
    times = np.arange(int(round(seconds / hop))) * hop
    f0 = np.zeros(len(times))
    for s, e, m in np.asarray(notes, np.float64)[:, :3] if len(notes) else ():
        f0[(times >= s) & (times < e)] = 440.0 * 2.0 ** ((m - 69.0) / 12.0)
    return times, f0


def audio_f0(notes: np.ndarray, stems: list[np.ndarray], stem_of: np.ndarray, seconds: float,
             hop: float = F0_HOP) -> np.ndarray:
    """Audio-aligned reference f0 (Hz, 0 = unvoiced) every ``hop`` s from 0 of a monophonic line
    rendered as ``stems`` (``stem_of``: ``models.labels.assign_stems``), labelled by
    ``models.labels`` exactly as ``models.data`` labels its pitch pairs, without pitch bends."""
    from models import labels as L

    centres = np.round(np.arange(int(round(seconds / hop))) * hop * SAMPLE_RATE).astype(np.int64)
    who = (L.audible_note(notes, stems, stem_of, centres, sample_rate=SAMPLE_RATE) if len(notes)
           else np.full(len(centres), -1))
    return L.midi_to_hz(L.f0_midi(who, notes, centres / SAMPLE_RATE, lambda t, m: np.asarray(m, np.float64)))


def through_low_rate(x: np.ndarray, quality: str = "HQ") -> np.ndarray:
    """x (16 kHz) -> 4 kHz, with soxr, as models.data makes superres inputs (before upsampling)."""
    import soxr

    return soxr.resample(np.asarray(x, np.float64), SAMPLE_RATE, LOW_RATE, quality=quality)


def lofi(x: np.ndarray) -> np.ndarray:
    """The superres input: through 4 kHz and back with soxr HQ, same length (as in training)."""
    import soxr

    y = soxr.resample(through_low_rate(x), LOW_RATE, SAMPLE_RATE, quality="HQ")[:len(x)]
    return np.pad(y, (0, len(x) - len(y)))  # a length that is no multiple of 4 comes back short


# ------------------------------------------------------------------ drawing an excerpt

def draw_excerpt(works: tuple[str, ...] | list[str], rng: np.random.Generator, seconds: float,
          need_accomp: bool, soundfont: str = SOUNDFONT) -> tuple[str, np.ndarray, np.ndarray, dict]:
    """A test-split excerpt with tempo/transposition augmentation as in models.data, where the
    melody sounds for at least half of the clip: (work, melody, accompaniment, info)."""
    from models import render as R
    from models.data import _excerpt
    from models.split import is_test

    for _ in range(200):
        rel = works[int(rng.integers(len(works)))]
        if not is_test(rel):
            raise ValueError(f"{rel} is not a test-split work")
        work = R.load_work(rel)
        if work is None or len(work.melody) < 4 or (need_accomp and len(work.accomp) == 0):
            continue
        qpm = work.qpm * float(rng.uniform(0.8, 1.25))
        spq = 60.0 / qpm
        shift = int(rng.integers(-5, 7))
        mel = work.melody * [spq, spq, 1] + [0, 0, shift]
        acc = work.accomp * [spq, spq, 1] + [0, 0, shift] if len(work.accomp) else np.zeros((0, 3))
        total = max(mel[:, 1].max(), acc[:, 1].max() if len(acc) else 0.0)
        if total < seconds:
            continue
        onsets = mel[:, 0][mel[:, 0] <= total - seconds]
        t0 = float(onsets[int(rng.integers(len(onsets)))]) if len(onsets) else 0.0
        mel = _excerpt(mel, t0, seconds)
        acc = _excerpt(acc, t0, seconds) if len(acc) else acc
        if len(mel) == 0 or np.sum(mel[:, 1] - mel[:, 0]) < 0.5 * seconds or (need_accomp and len(acc) == 0):
            continue
        return rel, mel, acc, {"work": rel, "soundfont": soundfont, "qpm": round(qpm, 2),
                               "transpose": shift, "t0": round(t0, 3)}
    raise RuntimeError("no usable test-split work in 200 draws")


def fluid(soundfont: str = SOUNDFONT):
    from models import render as R

    return R.renderer(R.soundfont_path(soundfont))


# ------------------------------------------------------------------ renderers

def render_separate(works, seed: int, index: int, seconds: float, soundfont: str = SOUNDFONT,
                    voice: str = "top") -> Clip:
    from .separate_eval import render_clip

    mix, violin, info = render_clip(list(works), seed, index, seconds, soundfont, voice)
    return Clip("separate", index, mix, violin, None, info)


def render_superres(works, seed: int, index: int, seconds: float, soundfont: str = SOUNDFONT) -> Clip:
    from models import render as R
    from models.data import _apply, _fit_range, _level, _reverb, _with_velocity

    rng = np.random.default_rng([seed, index, 11])
    rel, mel, acc, info = draw_excerpt(works, rng, seconds, need_accomp=True, soundfont=soundfont)
    n = int(round(seconds * SAMPLE_RATE))
    synth = fluid(soundfont)
    vbase = int(rng.integers(55, 120))
    solo = rng.random() < 0.3
    prog_m = int(rng.choice(R.VIOLIN_FAMILY if rng.random() < 0.7 else R.PIANO_FAMILY))
    prog_a = int(rng.choice(R.PIANO_FAMILY))
    mel = _fit_range(mel, *R.PROGRAM_RANGE.get(prog_m, (36, 96)))
    fx = _reverb(rng)
    mix = _apply(fx, synth.render(_with_velocity(mel, vbase, rng), prog_m, n)).astype(np.float64)
    if not solo:
        back = synth.render(_with_velocity(acc, vbase - int(rng.integers(0, 25)), rng), prog_a, n)
        mix = mix + _apply(fx, back) * 10.0 ** (rng.uniform(-9.0, 3.0) / 20.0)
    ref = mix * _level(mix, rng)
    info.update(programs=[prog_m] + ([] if solo else [prog_a]), reverb=fx is not None)
    return Clip("superres", index, lofi(ref), ref, None, info)


def synth_pair(mel: np.ndarray, seconds: float, rng: np.random.Generator,
               soundfont: str = SOUNDFONT) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(blueprint, violin rendering, timed notes with velocity, audio-aligned f0 of the violin
    rendering every F0_HOP s) of a melody, one peak level. The violin is one render of all
    the notes; its labels come from the same notes rendered as stems (``audio_f0``)."""
    from models import labels as L
    from models import render as R
    from models.data import _fit_range, _with_velocity
    from streamproc.blueprint import harmonic_blueprint

    n = int(round(seconds * SAMPLE_RATE))
    vbase = int(rng.integers(55, 120))
    notes = _with_velocity(_fit_range(mel, *R.PROGRAM_RANGE[VIOLIN]), vbase, rng)
    blue = harmonic_blueprint(notes, n, SYNTH_HARMONICS, SYNTH_ROLLOFF, rng)
    violin = fluid(soundfont).render(notes, VIOLIN, n)
    lvl = 10.0 ** (rng.uniform(-24.0, -1.0) / 20.0)
    blue = blue * (lvl / max(float(np.abs(blue).max()), 1e-6))
    gain = lvl / max(float(np.abs(violin).max()), 1e-6)
    violin = violin * gain
    stem_of = L.assign_stems(notes) if len(notes) else np.zeros(0, int)
    stems = [fluid(soundfont).render(notes[stem_of == k], VIOLIN, n).astype(np.float64) * gain
             for k in range(int(stem_of.max()) + 1)] if len(notes) else [np.zeros(n)]
    f0 = audio_f0(notes, stems, stem_of, seconds)
    return blue.astype(np.float64), violin.astype(np.float64), notes, f0


def render_synth(works, seed: int, index: int, seconds: float, soundfont: str = SOUNDFONT) -> Clip:
    rng = np.random.default_rng([seed, index, 13])
    rel, mel, _, info = draw_excerpt(works, rng, seconds, need_accomp=False, soundfont=soundfont)
    blue, violin, notes, f0 = synth_pair(mel, seconds, rng, soundfont)
    info.update(programs=[VIOLIN], harmonics=SYNTH_HARMONICS, rolloff=SYNTH_ROLLOFF)
    return Clip("synth", index, blue, violin, notes[:, :3], info, f0)


def pitch_audio(mel: np.ndarray, prog: int, seconds: float, rng: np.random.Generator,
                bend: float = 0.0, room: bool = True) -> tuple[np.ndarray, np.ndarray, bool]:
    """(solo audio, notes with the detune in their pitch, reverb used) of a melody on one program."""
    from models import render as R
    from models.data import _apply, _fit_range, _level, _reverb, _with_velocity

    n = int(round(seconds * SAMPLE_RATE))
    vbase = int(rng.integers(55, 120))
    mel = _fit_range(mel, *R.PROGRAM_RANGE.get(prog, (40, 96)))
    fx = _reverb(rng) if room else None
    audio = _apply(fx, fluid().render(_with_velocity(mel, vbase, rng), prog, n, bend_cents=bend))
    audio = np.asarray(audio, np.float64) * _level(audio, rng)
    notes = mel[:, :3].copy()
    notes[:, 2] += bend / 100.0
    return audio, notes, fx is not None


def render_pitch(works, seed: int, index: int, seconds: float) -> Clip:
    from models import render as R

    rng = np.random.default_rng([seed, index, 17])
    rel, mel, _, info = draw_excerpt(works, rng, seconds, need_accomp=False)
    prog = int(rng.choice(R.VIOLIN_FAMILY + R.PIANO_FAMILY))
    bend = float(rng.uniform(-50.0, 50.0)) if rng.random() < 0.5 else 0.0
    audio, notes, room = pitch_audio(mel, prog, seconds, rng, bend)
    info.update(programs=[prog], reverb=room, bend_cents=round(bend, 2))
    return Clip("pitch", index, audio, None, notes, info)


RENDERERS = {"separate": render_separate, "superres": render_superres, "synth": render_synth,
             "pitch": render_pitch}
VARIANT_TASKS = ("separate", "superres", "synth")  # sets that can be rendered with another soundfont
AUDIO_F0_TASKS = ("synth",)  # clips that carry Clip.f0: a cached one without it is not reused


# ------------------------------------------------------------------ cache

def _folder(task: str, seed: int, seconds: float, soundfont: str = SOUNDFONT, voice: str = "top") -> Path:
    """The cache of one clip set; the original sets (FluidR3_GM, the violin on top) keep their names."""
    variant = ("" if soundfont == SOUNDFONT else f"-{soundfont}") + ("" if voice == "top" else f"-{voice}")
    return CACHE / f"v{VERSION}-{task}{variant}-seed{seed}-{seconds:g}s"


def _save(folder: Path, clip: Clip) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    stem = folder / f"{clip.index:03d}"
    sf.write(f"{stem}-input.wav", clip.input.astype(np.float32), SAMPLE_RATE, subtype="FLOAT")
    if clip.reference is not None:
        sf.write(f"{stem}-reference.wav", clip.reference.astype(np.float32), SAMPLE_RATE, subtype="FLOAT")
    meta = {"info": clip.info, "notes": None if clip.notes is None else clip.notes.tolist()}
    if clip.f0 is not None:
        meta["f0"] = [round(float(v), 3) for v in clip.f0]
    tmp = stem.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(meta))
    tmp.replace(stem.with_suffix(".json"))  # written last: its presence marks a complete clip


def _load(folder: Path, task: str, index: int) -> Clip | None:
    stem = folder / f"{index:03d}"
    try:
        meta = json.loads(stem.with_suffix(".json").read_text())
        x, _ = sf.read(f"{stem}-input.wav", dtype="float64")
        ref = sf.read(f"{stem}-reference.wav", dtype="float64")[0] if task != "pitch" else None
    except (OSError, ValueError, RuntimeError):
        return None
    if task in AUDIO_F0_TASKS and meta.get("f0") is None:
        return None  # cached before the audio-aligned reference existed: render it again
    notes = None if meta["notes"] is None else np.array(meta["notes"], np.float64).reshape(-1, 3)
    f0 = None if meta.get("f0") is None else np.array(meta["f0"], np.float64)
    return Clip(task, index, x, ref, notes, meta["info"], f0)


def clip(task: str, index: int, seed: int = 0, seconds: float = 10.0, works=None, cache: bool = True,
         soundfont: str = SOUNDFONT, voice: str = "top") -> Clip:
    """Clip ``index`` of a task's test set (rendered once, then read from the cache), rendered
    with ``soundfont`` (a name ``models.render.soundfont_path`` knows; separate, superres and
    synth) and, for separate, with the violin on ``voice`` (``top`` or ``inner``)."""
    if task not in RENDERERS:
        raise ValueError(f"unknown task {task!r} (choose from {', '.join(TASKS)})")
    variant: dict = {}
    if soundfont != SOUNDFONT:
        if task not in VARIANT_TASKS:
            raise ValueError(f"the {task} set has no other soundfont (its audio-aligned clips do: pitch_clip)")
        variant["soundfont"] = soundfont
    if voice != "top":
        if task != "separate":
            raise ValueError(f"only the separate set places the violin on another voice, not {task}")
        variant["voice"] = voice
    folder = _folder(task, seed, seconds, soundfont, voice)
    if cache and works is None:
        hit = _load(folder, task, index)
        if hit is not None:
            return hit
    c = RENDERERS[task](works if works is not None else test_works(), seed, index, seconds, **variant)
    if cache and works is None:
        _save(folder, c)
    return c


def clips(task: str, count: int, seed: int = 0, seconds: float = 10.0, progress: bool = True,
          soundfont: str = SOUNDFONT, voice: str = "top") -> list[Clip]:
    """The first ``count`` clips of a task's test set (of one soundfont and voice: ``clip``)."""
    from tqdm import tqdm

    return [clip(task, i, seed, seconds, soundfont=soundfont, voice=voice)
            for i in tqdm(range(count), desc=f"test set {task}", unit="clip", disable=not progress, leave=False)]


# ------------------------------------------------------------------ audio-aligned pitch clips

def _pitch_folder(soundfont: str, seed: int, seconds: float) -> Path:
    from models.data import DATA_VERSION

    return CACHE / f"v{VERSION}-pitch-audio-d{DATA_VERSION}-{soundfont}-seed{seed}-{seconds:g}s"


def pitch_clip(soundfont: str, index: int, seed: int = 0, seconds: float = 10.0, works=None,
               cache: bool = True) -> Clip:
    """Audio-aligned pitch clip ``index``: ``models.data.audio_clip("pitch", ...)`` on test-split
    works with one soundfont (a name ``models.render.soundfont_path`` knows, or a path); the
    reference is ``Clip.f0`` (Hz every F0_HOP s, 0 = unvoiced), taken from the rendered audio."""
    from models import render as R
    from models.data import audio_clip
    from models.split import is_test

    path = R.soundfont_path(soundfont)
    name = R.soundfont_name(path)
    folder = _pitch_folder(name, seed, seconds)
    stem = folder / f"{index:03d}"
    cache = cache and works is None  # a clip from other works is never cached
    if cache:
        try:
            meta = json.loads(stem.with_suffix(".json").read_text())
            x, _ = sf.read(f"{stem}-input.wav", dtype="float64")
            return Clip("pitch", index, x, None, None, meta["info"], np.array(meta["f0"], np.float64))
        except (OSError, ValueError, KeyError, RuntimeError):
            pass
    works = list(works if works is not None else test_works())
    bad = [w for w in works if not is_test(w)]
    if bad:
        raise ValueError(f"{bad[0]} is not a test-split work")
    if not path.is_file():
        raise ValueError(f"soundfont not found: {path}")
    x, f0, info = audio_clip("pitch", works, path, seed, index, seconds)
    c = Clip("pitch", index, np.asarray(x, np.float64), None, None, info, np.asarray(f0, np.float64))
    if cache:
        folder.mkdir(parents=True, exist_ok=True)
        sf.write(f"{stem}-input.wav", c.input.astype(np.float32), SAMPLE_RATE, subtype="FLOAT")
        tmp = stem.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"info": info, "f0": [round(float(v), 3) for v in c.f0]}))
        tmp.replace(stem.with_suffix(".json"))  # written last: its presence marks a complete clip
    return c


def pitch_clips(soundfont: str, count: int, seed: int = 0, seconds: float = 10.0,
                progress: bool = True) -> list[Clip]:
    """The first ``count`` audio-aligned pitch clips of one soundfont."""
    from tqdm import tqdm

    return [pitch_clip(soundfont, i, seed, seconds) for i in tqdm(range(count), desc=f"pitch clips {soundfont}",
                                                                  unit="clip", disable=not progress, leave=False)]
