"""Paired training data for the four tasks (plus the GAN-S restoration stage), cached on disk.

    python -m models.data --task separate --minutes 120 --out data/separate [--soundfont NAME]
                          [--hold-out NAME] [--seed N] [--split train|test] [--seconds 15] [--jobs 2]

Each example is an excerpt of a music21 corpus work rendered with FluidSynth at 16 kHz and
turned into feature images by the runtime's own DSP (``streamproc.dsp``), so training and
inference see identical features. Examples are written as ``ex_NNNNNN.npz`` (float32 ``x``
and ``y`` of shape (rows, frames), a JSON ``info`` string, for pitch also float32 ``f0``
per frame in Hz; no pickles) and a ``manifest.json``. Example ``i`` depends only on
(seed, i), so a rerun skips existing files and a larger ``--minutes`` extends a set without
changing what is there.

The material varies like real playing (``models.expression``: articulation, vibrato as
pitch bend, CC11 dynamics, accents), real recordings (``models.recording``: rooms, EQ, noise
floor, level) and real duets (``models.arrange``: the violin on any voice, doublings,
violin-to-piano level -12..+6 dB). Pairs: separate (violin + piano mix -> violin stem),
superres (through one of several real low-rate paths -> original), synth (harmonic
blueprint -> violin), pitch (solo audio -> pitch map with labels from the rendered audio,
``models.labels``), restore (linear magnitudes descaled from the mel -> true linear
magnitudes; the GAN-S restoration net).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Callable, ParamSpec, Protocol, TypeVar, cast

import numpy as np

from streamproc.config import DEFAULT, SpectralConfig
from streamproc import dsp
from streamproc.features import DEFAULT_KIND, audio_features, check_input_kind
from streamproc.pitchmap import DEFAULT_LAYOUT

from dataclasses import dataclass

from . import recording as Rec
from . import render as R
from .split import is_test

TASKS = ("separate", "superres", "synth", "pitch", "restore")
DATA_VERSION = 2   # 2: expression, recording chain, violin on any voice, low-rate paths, audio-aligned pitch labels

# pitch map layout (streamproc.pitchmap, shared with the runtime): row r <-> MIDI pitch
# min_midi + r / bins_per_semitone (bin centres); ``on`` where a MIDI note sounds at the frame
# centre, ``off`` elsewhere
LAYOUT = DEFAULT_LAYOUT


def pitch_layout() -> dict:
    """The layout under its metadata keys (data manifests, network configs)."""
    return LAYOUT.as_dict()


def task_rows(task: str, cfg: SpectralConfig = DEFAULT) -> tuple[int, int]:
    """(input rows, output rows) of the images of a task."""
    if task == "restore":
        return cfg.n_bins, cfg.n_bins
    if task == "pitch":
        return cfg.n_mels, LAYOUT.n_bins
    return cfg.n_mels, cfg.n_mels


def output_kind(task: str) -> str:
    return {"pitch": "pitchmap", "restore": "linear"}.get(task, "mel")


def frame_centres(n_frames: int, cfg: SpectralConfig = DEFAULT) -> np.ndarray:
    """Sample index at the centre of each STFT frame (framing convention of streamproc.dsp)."""
    return np.arange(n_frames) * cfg.hop + cfg.hop - cfg.n_fft // 2


def pitch_map_frames(midi: np.ndarray, sigma: float = 0.0) -> np.ndarray:
    """Per-frame sounding pitch (fractional MIDI, NaN = unvoiced) -> (n_bins, frames):
    ``on`` in the nearest row, ``off`` elsewhere; ``sigma`` > 0 (rows): a soft target instead,
    a Gaussian of that width around the exact (fractional) row, so the map carries the pitch
    between rows and a centroid decoder can read it back."""
    midi = np.asarray(midi, np.float64)
    out = np.full((LAYOUT.n_bins, len(midi)), LAYOUT.off, dtype=np.float32)
    ok = np.isfinite(midi)
    if sigma > 0:
        exact = (midi - LAYOUT.min_midi) * LAYOUT.bins_per_semitone
        d = np.arange(LAYOUT.n_bins)[:, None] - np.where(ok, exact, -1e9)[None, :]
        g = np.exp(-0.5 * (d / sigma) ** 2)
        return (LAYOUT.off + (LAYOUT.on - LAYOUT.off) * g).astype(np.float32)
    b = np.full(len(midi), -1)
    b[ok] = LAYOUT.rows(midi[ok])
    k = np.where((b >= 0) & (b < LAYOUT.n_bins))[0]
    out[b[k], k] = LAYOUT.on
    return out


def pitch_map(notes: np.ndarray, n_frames: int, cfg: SpectralConfig = DEFAULT) -> np.ndarray:
    """notes (n, >=3): start_s, end_s, midi (fractional allowed) -> (n_bins, frames)."""
    out = np.full((LAYOUT.n_bins, n_frames), LAYOUT.off, dtype=np.float32)
    centres = frame_centres(n_frames, cfg) / cfg.sample_rate
    for s, e, m in notes[:, :3]:
        b = LAYOUT.row(m)
        if 0 <= b < LAYOUT.n_bins:
            out[b, (centres >= s) & (centres < e)] = LAYOUT.on
    return out


# ------------------------------------------------------------------ one example

def _fit_range(notes: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Shift by octaves until the notes sit inside [lo, hi] as far as possible."""
    from .arrange import octave_offset

    out = np.array(notes, np.float64, copy=True)
    if len(out):
        out[:, 2] += octave_offset(out, lo, hi)
    return out


def _excerpt(notes: np.ndarray, t0: float, seconds: float) -> np.ndarray:
    sel = notes[(notes[:, 1] > t0) & (notes[:, 0] < t0 + seconds)].copy()
    sel[:, 0] = np.maximum(sel[:, 0] - t0, 0.0)
    sel[:, 1] = np.minimum(sel[:, 1] - t0, seconds)
    return sel[sel[:, 1] > sel[:, 0] + 0.01]


def _with_velocity(notes: np.ndarray, base: int, rng: np.random.Generator) -> np.ndarray:
    vel = np.clip(base + rng.integers(-10, 11, len(notes)), 30, 127)
    return np.column_stack([notes[:, :3], vel]).astype(np.float64)


def _reverb(rng: np.random.Generator):
    """A random plate room (or none, 40 %): the evaluation clips' room (bench.testsets)."""
    if rng.random() < 0.4:
        return None
    return Rec.PlateRoom(rng)


def _apply(fx, x: np.ndarray) -> np.ndarray:
    return Rec.apply(fx, x).astype(np.float32)


def _level(x: np.ndarray, rng: np.random.Generator) -> float:
    """Gain that puts the peak of x at a random level between -24 and -1 dBFS."""
    return Rec.peak_gain(x, rng)


def _rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if len(x) else 0.0


VIOLIN_TO_PIANO_DB = (-12.0, 6.0)
DETUNE_CENTS = 50.0


@dataclass
class Draw:
    """What every task draws first: the work, tempo, transposition, soundfont, base velocity."""

    rel: str
    work: "R.Work"
    spq: float
    shift: int
    n: int
    seconds: float
    synth: "R.FluidRenderer"
    vbase: int
    info: dict

    def timed(self, notes_ql: np.ndarray, shift: int = 0) -> np.ndarray:
        return notes_ql * [self.spq, self.spq, 1] + [0, 0, self.shift + shift]

    def start(self, lead: np.ndarray, rng: np.random.Generator, others: np.ndarray | None = None) -> float:
        """An excerpt start at one of the lead's onsets (leaving a full excerpt where possible)."""
        total = max(lead[:, 1].max(), others[:, 1].max() if others is not None and len(others) else 0.0)
        onsets = lead[:, 0][lead[:, 0] <= max(0.0, total - self.seconds)]
        t0 = float(onsets[int(rng.integers(len(onsets)))]) if len(onsets) else 0.0
        self.info["t0"] = round(t0, 3)
        return t0


def _draw(task: str, works: list[str], soundfonts: list[Path], rng: np.random.Generator, index: int,
          seconds: float) -> Draw:
    for _ in range(50):
        rel = works[int(rng.integers(len(works)))]
        work = R.load_work(rel)
        if work is not None:
            break
    else:
        raise RuntimeError("no usable work found in 50 draws")
    if is_test(rel) and not getattr(make_example, "allow_test", False):
        raise RuntimeError(f"refusing test-split work {rel} for training data")
    qpm = work.qpm * float(rng.uniform(0.8, 1.25))            # tempo augmentation
    shift = int(rng.integers(-5, 7))                          # transposition
    sf = soundfonts[int(rng.integers(len(soundfonts)))]
    vbase = int(rng.integers(55, 120))                        # velocity augmentation
    info = {"task": task, "index": index, "work": rel, "soundfont": R.soundfont_name(sf),
            "qpm": round(qpm, 2), "transpose": shift, "seconds": seconds, "data_version": DATA_VERSION}
    return Draw(rel, work, 60.0 / qpm, shift, int(round(seconds * R.SAMPLE_RATE)), seconds, R.renderer(sf), vbase, info)


def _bowed(d: Draw, notes: np.ndarray, program: int, rng: np.random.Generator, vibrato: float = 0.7,
           offset_cents: float = 0.0):
    """A performed monophonic line on ``program``: (audio, Performance); violin family and the
    other sustained leads get vibrato and CC11 dynamics, anything else (piano) velocity dynamics only."""
    from .expression import Performance, perform, piano_dynamics

    notes = _with_velocity(notes, d.vbase, rng)
    if program in R.VIOLIN_FAMILY or program in R.OTHER_LEADS:
        perf = perform(notes, d.n, rng, vibrato=vibrato)
    else:
        perf = perform(notes, d.n, rng, vibrato=0.0, dynamics=False)
        perf = Performance(piano_dynamics(perf.notes, rng), perf.controls, perf.articulation)
    perf.controls.bend_cents += offset_cents
    return perf


def _duet(d: Draw, rng: np.random.Generator, program: int) -> tuple[np.ndarray, np.ndarray, dict]:
    """(violin-family stem, piano stem, info) of an excerpt, violin on any voice, both performed,
    each with its own timbre EQ (+-3 dB: instrument variation), unmixed and dry."""
    from .arrange import arrange, draw_role, voice_position
    from .expression import piano_dynamics

    duet = arrange(d.work, draw_role(rng), program, rng, d.shift)
    vio = duet.violin * [d.spq, d.spq, 1]
    pno = duet.piano * [d.spq, d.spq, 1]
    t0 = d.start(vio, rng, pno)
    vio, pno = _excerpt(vio, t0, d.seconds), _excerpt(pno, t0, d.seconds)
    perf = _bowed(d, vio, program, rng)
    lead_synth, back_synth, drawn = _synth_timbres(d, rng)
    lead = lead_synth.render(perf.notes, program, d.n, controls=perf.controls).astype(np.float64)
    prog_p = int(rng.choice(R.PIANO_FAMILY))
    back = back_synth.render(piano_dynamics(_with_velocity(pno, d.vbase - int(rng.integers(0, 25)), rng), rng),
                          prog_p, d.n).astype(np.float64) if len(pno) else np.zeros(d.n)
    lead = Rec.Eq.random(rng, 3.0)(lead)
    back = Rec.Eq.random(rng, 3.0)(back)
    info = {"programs": [program, prog_p], "role": duet.role, "doubling": duet.doubling,
            "articulation": perf.articulation, **voice_position(vio, pno)}
    if drawn:
        info["synth_timbres"] = drawn
    return lead, back, info


def _synth_timbres(d: Draw, rng: np.random.Generator) -> tuple:
    """(melody renderer, accompaniment renderer, which were drawn): the soundfont's, or each for a
    share ``INPUT["synth_timbres"]`` of pairs an additive instrument drawn at random
    (``models.timbre``); draws nothing where that share is 0, so sets rendered without it keep their draws."""
    share = INPUT["synth_timbres"]
    if not share:
        return d.synth, d.synth, []
    from .timbre import AdditiveRenderer, random_renderer

    out: list[R.FluidRenderer | AdditiveRenderer] = []
    drawn: list[str] = []
    for part, kind in (("melody", "sustained"), ("accompaniment", "struck")):
        if rng.random() < share:
            out.append(random_renderer(rng, kind))
            drawn.append(part)
        else:
            out.append(d.synth)
    return out[0], out[1], drawn


def _recording(rng: np.random.Generator, stems: list[np.ndarray]) -> tuple[list[np.ndarray], dict]:
    """One room and one EQ for every stem of a take."""
    room, eq = Rec.random_room(rng), Rec.Eq.random(rng)
    return [eq(Rec.apply(room, s)) for s in stems], {"room": Rec.room_name(room), "eq_tilt_db": round(eq.tilt_db, 2),
                                                    "eq_peaks": len(eq.peaks)}


def _other_lead(rng: np.random.Generator, program: int) -> int:
    """``program``, or for a share ``INPUT["other_leads"]`` of draws another sustained melody
    instrument (``models.render.OTHER_LEADS``); draws nothing where that share is 0, so sets
    rendered without it keep their draws."""
    if INPUT["other_leads"] and rng.random() < INPUT["other_leads"]:
        return int(rng.choice(R.OTHER_LEADS))
    return program


def _mixture(d: Draw, rng: np.random.Generator, solo_p: float, lead_program: int | None = None):
    """(lead, rest, info): a duet (lead on any voice, level -12..+6 dB against the piano) or,
    with probability ``solo_p``, the lead alone; through one recording chain, not yet levelled."""
    prog = lead_program if lead_program is not None else _other_lead(rng, int(rng.choice(R.VIOLIN_FAMILY)))
    lead, back, info = _duet(d, rng, prog)
    if INPUT["stem_eq_db"]:  # each instrument's own colour, before the take's shared chain
        lead, back = Rec.Eq.random(rng, INPUT["stem_eq_db"])(lead), Rec.Eq.random(rng, INPUT["stem_eq_db"])(back)
        info["stem_eq_db"] = INPUT["stem_eq_db"]
    if rng.random() < solo_p or _rms(back) < 1e-9:
        back = np.zeros(d.n)
        info.update(programs=info["programs"][:1], solo=True)
    else:
        db = float(rng.uniform(*VIOLIN_TO_PIANO_DB))
        back *= _rms(lead) / _rms(back) * 10.0 ** (-db / 20.0) if _rms(lead) > 1e-9 else 1.0
        info.update(violin_to_piano_db=round(db, 2), solo=False)
    (lead, back), rec = _recording(rng, [lead, back])
    info.update(rec)
    return lead, back, info


def _noise(d: Draw, rng: np.random.Generator, info: dict) -> np.ndarray:
    x, ni = Rec.noise_floor(d.n, rng)
    info.update(ni)
    return x


def separate_audio(d: Draw, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """(mixture with its noise floor, violin stem at the same gain, info): a separation pair as
    audio, which the training images and the audio-level evaluation both come from."""
    lead, back, info = _mixture(d, rng, 0.0)
    g = _level(lead + back, rng)
    mix = (lead + back) * g + _noise(d, rng, info)
    return mix, lead * g, info


def example_separate(d: Draw, rng: np.random.Generator, cfg: SpectralConfig):
    mix, lead, info = separate_audio(d, rng)
    kind = INPUT["input_kind"]  # mel, or mel-asym (both images under the live window)
    return audio_features(mix, cfg, kind), audio_features(lead, cfg, kind), info, {}


def _piano_lead(d: Draw, rng: np.random.Generator) -> int | None:
    return int(rng.choice(R.PIANO_FAMILY)) if rng.random() < 0.3 else None


def superres_audio(d: Draw, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """(band-limited input through one of the real-world low-rate paths, full-band original, info)."""
    lead, back, info = _mixture(d, rng, 0.3, _piano_lead(d, rng))
    mix = lead + back
    mix = mix * _level(mix, rng) + _noise(d, rng, info)
    low, path = Rec.low_rate_path(mix, rng)
    info["low_rate"] = path
    return low, mix, info


def example_superres(d: Draw, rng: np.random.Generator, cfg: SpectralConfig):
    low, mix, info = superres_audio(d, rng)
    return dsp.log_mel_features(low, cfg), dsp.log_mel_features(mix, cfg), info, {}


AUDIO_PAIRS = {"separate": separate_audio, "superres": superres_audio}  # pitch_pair added below


def audio_clip(task: str, works: list[str], soundfont: Path, seed: int, index: int,
               seconds: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """(input, target, info) audio of pair ``index`` of ``task`` (test-split works allowed: for
    evaluation), drawn exactly as a training pair of a set with this one soundfont would be."""
    rng = np.random.default_rng([seed, index, TASKS.index(task)])
    allow = getattr(make_example, "allow_test", False)
    make_example.allow_test = True
    try:
        d = _draw(task, works, [soundfont], rng, index, seconds)
    finally:
        make_example.allow_test = allow
    x, y, info = AUDIO_PAIRS[task](d, rng)
    d.info.update(info)
    return x, y, d.info


# set by ``build(restore_from=...)`` before its workers fork: {task: model path} whose outputs the
# restore task's inputs are made of (``models.restore_inputs``); None = descaled true mels
RESTORE_SOURCES: dict[str, Path] | None = None
RESTORE_CHUNKING: tuple[int, int] | None = None  # the task models' (new, lookahead) there; None: default's


def example_restore(d: Draw, rng: np.random.Generator, cfg: SpectralConfig):
    if RESTORE_SOURCES:
        return _restore_from_model(d, rng, cfg, RESTORE_SOURCES)
    lead, back, info = _mixture(d, rng, 0.3, _piano_lead(d, rng))
    mix = lead + back
    mix = mix * _level(mix, rng) + _noise(d, rng, info)
    mag = np.abs(dsp.stft(mix, cfg))
    melspec = dsp.mel_from_magnitude(mag, cfg)
    approx = dsp.descale(dsp.mel_from_features(dsp.features_from_mel(melspec, cfg), cfg), cfg)
    return dsp.features_from_mel(approx, cfg).T, dsp.features_from_mel(mag, cfg).T, info, {}


def _restore_from_model(d: Draw, rng: np.random.Generator, cfg: SpectralConfig, sources: dict[str, Path]):
    from .restore_inputs import restore_pair

    tasks = sorted(sources)
    task = tasks[int(rng.integers(len(tasks)))]
    x, y, info = RESTORE_AUDIO[task](d, rng)
    xi, yi = restore_pair(task, sources[task], x, y, cfg, RESTORE_CHUNKING)
    return xi, yi, {**info, "restore_from": task}, {}


def synth_audio(d: Draw, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, dict]:
    """(harmonic blueprint, violin rendering of the same notes, info), both at one peak level."""
    mel = d.timed(d.work.melody)
    mel = _excerpt(mel, d.start(mel, rng), d.seconds)
    prog = int(rng.choice(R.VIOLINS))
    mel = _fit_range(mel, *R.PROGRAM_RANGE[prog])
    notes = _with_velocity(mel, d.vbase, rng)
    nh = int(rng.integers(1, 7))                              # varied harmonic counts
    blue = R.harmonic_blueprint(notes, d.n, nh, float(rng.uniform(0.2, 0.8)), rng)
    violin = d.synth.render(notes, prog, d.n)
    lvl = 10.0 ** (rng.uniform(-24.0, -1.0) / 20.0)
    gb = lvl / max(float(np.abs(blue).max()), 1e-6)
    gv = lvl / max(float(np.abs(violin).max()), 1e-6)
    return blue * gb, violin * gv, {"programs": [prog], "harmonics": nh}


def example_synth(d: Draw, rng: np.random.Generator, cfg: SpectralConfig):
    blue, violin, info = synth_audio(d, rng)
    return dsp.log_mel_features(blue, cfg), dsp.log_mel_features(violin, cfg), info, {}


RESTORE_AUDIO = {"separate": separate_audio, "superres": superres_audio, "synth": synth_audio}
AUDIO_PAIRS["synth"] = synth_audio  # evaluation clips (bench.timbre_eval): a violin of one soundfont


def pitch_audio(d: Draw, rng: np.random.Generator) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray], dict]:
    """(audio, label, info) of a solo line (any voice of the work) with vibrato, dynamics and
    articulation, rendered as stems whose sum is the audio. ``label(centres)`` gives the f0 in
    MIDI (0 where unvoiced) at sample positions: voiced while the note is audible in its own
    stem (models.labels), following the bends, so labels follow the audio, not the score."""
    from . import labels as L

    voices = list(d.work.voices) or [d.work.melody]
    line = d.timed(voices[int(rng.integers(len(voices)))])
    line = _excerpt(line, d.start(line, rng), d.seconds)
    prog = _other_lead(rng, int(rng.choice(R.VIOLIN_FAMILY + R.PIANO_FAMILY)))
    line = _fit_range(line, *R.PROGRAM_RANGE.get(prog, (40, 96)))
    detune = float(rng.uniform(-DETUNE_CENTS, DETUNE_CENTS)) if rng.random() < 0.5 else 0.0  # off-grid tuning
    perf = _bowed(d, line, prog, rng, offset_cents=detune)
    notes = perf.notes
    stem_of = L.assign_stems(notes)
    stems = [d.synth.render(notes[stem_of == k], prog, d.n, controls=perf.controls).astype(np.float64)
             for k in range(int(stem_of.max()) + 1)] if len(notes) else [np.zeros(d.n)]
    audio = np.sum(stems, axis=0)
    (audio,), rec = _recording(rng, [audio])
    audio = audio * _level(audio, rng)
    info = {"programs": [prog], "bend_cents": round(detune, 2), "articulation": perf.articulation,
            "stems": len(stems), **rec}
    audio = audio + _noise(d, rng, info)

    def label(centres: np.ndarray) -> np.ndarray:
        who = (L.audible_note(notes, stems, stem_of, centres, sample_rate=R.SAMPLE_RATE) if len(notes)
               else np.full(len(centres), -1))
        return L.f0_midi(who, notes, centres / R.SAMPLE_RATE, perf.pitch_at)

    return audio, label, info


# set by ``build(input_kind=..., pitch_sigma=..., stem_eq_db=..., other_leads=..., synth_timbres=...)`` before its workers
# fork: the model's input image (``streamproc.features``), a pitch target's softness in rows (0: one-hot),
# the limit of a random EQ on each stem of a separation pair (0: none), and the share of separation
# pairs or pitch examples whose melody is played by another sustained instrument (0: none), and the
# share of a separation pair's parts played by a drawn additive instrument (0: none)
INPUT_DEFAULTS: dict = {"input_kind": DEFAULT_KIND, "pitch_sigma": 0.0, "stem_eq_db": 0.0, "other_leads": 0.0,
                        "synth_timbres": 0.0}
INPUT: dict = dict(INPUT_DEFAULTS)
NUMERIC_SETTINGS = ("pitch_sigma", "stem_eq_db", "other_leads", "synth_timbres")  # 0 where a manifest lacks them
# the input kinds other than mel, and the tasks whose data can take them: logfreq rows are the
# pitch map's own; mel-asym (the live window) for separate, whose target is taken under it too
KIND_TASKS = {"logfreq": ("pitch",), "mel-asym": ("separate",)}


def example_pitch(d: Draw, rng: np.random.Generator, cfg: SpectralConfig):
    from . import labels as L

    audio, label, info = pitch_audio(d, rng)
    x = audio_features(audio, cfg, INPUT["input_kind"], LAYOUT)
    midi = label(frame_centres(x.shape[1], cfg))
    return (x, pitch_map_frames(midi, INPUT["pitch_sigma"]), info,
            {"f0": L.midi_to_hz(midi).astype(np.float32)})


def pitch_pair(d: Draw, rng: np.random.Generator, hop_s: float = 0.01) -> tuple[np.ndarray, np.ndarray, dict]:
    """(audio, reference f0 in Hz every ``hop_s`` seconds from 0, 0 = unvoiced, info): the
    evaluation form of a pitch pair, on the grid ``streamproc pitch`` writes."""
    from . import labels as L

    audio, label, info = pitch_audio(d, rng)
    centres = np.round(np.arange(int(round(d.seconds / hop_s))) * hop_s * R.SAMPLE_RATE).astype(np.int64)
    return audio, L.midi_to_hz(label(centres)), info


AUDIO_PAIRS["pitch"] = pitch_pair

EXAMPLES = {"separate": example_separate, "superres": example_superres, "synth": example_synth,
            "pitch": example_pitch, "restore": example_restore}


_P = ParamSpec("_P")
_T_co = TypeVar("_T_co", covariant=True)


class _TestFlagged(Protocol[_P, _T_co]):
    """A function that carries a flag ``allow_test`` (``make_example``'s: test-split works may be
    drawn; set by ``audio_clip`` and by each worker of ``build``, read by ``_draw``)."""

    allow_test: bool

    def __call__(self, *args: _P.args, **kwargs: _P.kwargs) -> _T_co: ...


def _test_flagged(f: Callable[_P, _T_co]) -> _TestFlagged[_P, _T_co]:
    """``f`` itself, unchanged (its ``allow_test`` stays unset until someone sets it), typed as carrying the flag."""
    return cast("_TestFlagged[_P, _T_co]", f)


@_test_flagged
def make_example(task: str, works: list[str], soundfonts: list[Path], seed: int, index: int,
                 seconds: float, cfg: SpectralConfig = DEFAULT) -> tuple[np.ndarray, np.ndarray, dict]:
    """Render example ``index`` of a set: (x, y, info). Deterministic in (seed, index)."""
    x, y, info, _ = make_example_full(task, works, soundfonts, seed, index, seconds, cfg)
    return x, y, info


def make_example_full(task: str, works: list[str], soundfonts: list[Path], seed: int, index: int,
                      seconds: float, cfg: SpectralConfig = DEFAULT) -> tuple[np.ndarray, np.ndarray, dict, dict]:
    """(x, y, info, extra arrays) of example ``index`` (extra: the pitch task's frame f0 in Hz)."""
    if task not in EXAMPLES:
        raise ValueError(f"unknown task {task!r}")
    rng = np.random.default_rng([seed, index, TASKS.index(task)])
    d = _draw(task, works, soundfonts, rng, index, seconds)
    x, y, info, extra = EXAMPLES[task](d, rng, cfg)
    d.info.update(info)
    return x.astype(np.float32), y.astype(np.float32), d.info, extra


# ------------------------------------------------------------------ a whole set

def _worker(args: tuple) -> tuple[int, dict]:
    task, works, soundfonts, seed, index, seconds, out, allow_test = args
    make_example.allow_test = allow_test
    x, y, info, extra = make_example_full(task, works, soundfonts, seed, index, seconds)
    tmp = out / f".ex_{index:06d}.tmp.npz"
    np.savez(tmp, x=x, y=y, info=np.array(json.dumps(info)), **extra)
    os.replace(tmp, out / f"ex_{index:06d}.npz")
    return index, info


def build(task: str, minutes: float, out: Path, soundfonts: list[str] | None = None, seed: int = 0,
          split: str = "train", seconds: float = 15.0, jobs: int = 1, progress: bool = True,
          hold_out: list[str] | None = None, restore_from: dict[str, Path] | None = None,
          input_kind: str = DEFAULT_KIND, pitch_sigma: float = 0.0,
          restore_chunking: tuple[int, int] | None = None, stem_eq_db: float = 0.0,
          other_leads: float = 0.0, synth_timbres: float = 0.0) -> dict:
    """Render (or extend) a data set; returns its manifest. ``soundfonts`` default: the three
    training soundfonts, less those in ``hold_out`` (kept for an unseen-timbre test).
    ``restore_from`` (task ``restore`` only): {task: ONNX model} whose outputs make the inputs
    (``models.restore_inputs``) instead of descaled true mels. ``input_kind``: the input image
    (``KIND_TASKS``: the tasks each kind other than mel serves). ``pitch_sigma`` (task ``pitch``
    only): the soft target's width in rows. ``restore_chunking`` (with ``restore_from``): the task
    models' (new, lookahead), e.g. (1, 0) for a net that runs in the ``live`` profile.
    ``stem_eq_db`` (task ``separate`` only): each stem of a pair through a second, wider random
    smooth EQ within this many dB, so that the violin is told from the piano by more than its colour.
    ``other_leads`` (tasks ``separate`` and ``pitch``): the share of examples whose melody is
    another sustained instrument (``models.render.OTHER_LEADS``): more timbres than two violins.
    ``synth_timbres`` (task ``separate``): the share of pairs whose melody, and independently whose
    accompaniment, is an additive instrument drawn at random (``models.timbre``): timbres no soundfont has."""
    global RESTORE_SOURCES, RESTORE_CHUNKING, INPUT
    from tqdm import tqdm

    if task not in TASKS:
        raise ValueError(f"unknown task {task!r} (choose from {', '.join(TASKS)})")
    if split not in ("train", "test"):
        raise ValueError("split must be 'train' or 'test'")
    if minutes <= 0 or seconds <= 0:
        raise ValueError("--minutes and --seconds must be positive")
    if soundfonts and hold_out:
        raise ValueError("give --soundfont or --hold-out, not both")
    if restore_from and task != "restore":
        raise ValueError("--from-models makes restoration inputs: it needs --task restore")
    if restore_chunking and not restore_from:
        raise ValueError("--from-models-chunking sets how --from-models runs its models: give --from-models too")
    if task != "pitch" and pitch_sigma:
        raise ValueError("--pitch-sigma shapes pitch targets: it needs --task pitch")
    if pitch_sigma < 0 or pitch_sigma > 4:
        raise ValueError("--pitch-sigma must be 0..4 rows")
    if stem_eq_db and task != "separate":
        raise ValueError("--stem-eq colours the stems of a separation pair: it needs --task separate")
    if not 0 <= stem_eq_db <= 12:
        raise ValueError("--stem-eq must be 0..12 dB")
    if other_leads and task not in ("separate", "pitch"):
        raise ValueError("--other-leads changes the melody instrument: it needs --task separate or pitch")
    if not 0 <= other_leads <= 1:
        raise ValueError("--other-leads must be a share, 0..1")
    if synth_timbres and task != "separate":
        raise ValueError("--synth-timbres draws the instruments of a separation pair: it needs --task separate")
    if not 0 <= synth_timbres <= 1:
        raise ValueError("--synth-timbres must be a share, 0..1")
    try:
        check_input_kind(input_kind, "--input")
    except Exception as e:  # noqa: BLE001  (UserError: the same one line)
        raise ValueError(str(e)) from None
    if input_kind != DEFAULT_KIND and task not in KIND_TASKS.get(input_kind, ()):
        raise ValueError(f"--input {input_kind} needs --task {' or '.join(KIND_TASKS.get(input_kind, ()))}")
    input_settings = {"input_kind": input_kind, "pitch_sigma": float(pitch_sigma), "stem_eq_db": float(stem_eq_db),
                      "other_leads": float(other_leads), "synth_timbres": float(synth_timbres)}
    sources = None
    if restore_from:
        from .restore_inputs import describe

        sources = describe(restore_from, restore_chunking)
    names = soundfonts or R.training_soundfonts(hold_out)
    sfs = [R.soundfont_path(s) for s in names]
    for p in sfs:
        if not p.is_file():
            raise ValueError(f"soundfont not found: {p}{R.install_hint(p)}")
        if split == "train" and R.soundfont_name(p) not in R.TRAINING_SOUNDFONTS:
            raise ValueError(f"soundfont {R.soundfont_name(p)} is reserved for evaluation; "
                             f"train only on {' / '.join(R.TRAINING_SOUNDFONTS)}")
    out.mkdir(parents=True, exist_ok=True)
    old = out / "manifest.json"
    if old.exists():
        m = json.loads(old.read_text())
        same = (m.get("task"), m.get("seed"), m.get("split"), m.get("seconds"), m.get("soundfonts"),
                m.get("data_version", 1), m.get("restore_from"), m.get("input_kind", DEFAULT_KIND),
                *(float(m.get(k, 0.0)) for k in NUMERIC_SETTINGS))
        if same != (task, seed, split, seconds, [R.soundfont_name(p) for p in sfs], DATA_VERSION, sources,
                    input_kind, *(input_settings[k] for k in NUMERIC_SETTINGS)):
            raise ValueError(f"{out} holds a different data set ({m.get('task')}, seed {m.get('seed')}, "
                             f"split {m.get('split')}); use another --out")
    works = R.corpus_works(split)
    n_ex = max(1, math.ceil(minutes * 60.0 / seconds))
    todo, infos = [], {}
    for i in range(n_ex):
        f = out / f"ex_{i:06d}.npz"
        try:
            with np.load(f, allow_pickle=False) as z:
                infos[i] = json.loads(str(z["info"]))
        except Exception:  # noqa: BLE001  (missing or damaged: render it (again))
            todo.append((task, works, sfs, seed, i, seconds, out, split == "test"))
    t = time.time()
    RESTORE_SOURCES = dict(restore_from) if restore_from else None  # the workers fork with it
    RESTORE_CHUNKING = restore_chunking
    INPUT = input_settings
    bar = tqdm(total=n_ex, initial=n_ex - len(todo), desc=f"render {task}", unit="ex", disable=not progress)
    try:
        if jobs > 1 and len(todo) > 1:
            import multiprocessing as mp

            with mp.get_context("fork").Pool(jobs) as pool:
                for i, info in pool.imap_unordered(_worker, todo):
                    infos[i] = info
                    bar.update()
        else:
            for a in todo:
                i, info = _worker(a)
                infos[i] = info
                bar.update()
    finally:
        RESTORE_SOURCES, RESTORE_CHUNKING = None, None
        INPUT = dict(INPUT_DEFAULTS)
        bar.close()
    rows_in, rows_out = task_rows(task)
    manifest = {
        "task": task, "data_version": DATA_VERSION, "seed": seed, "split": split, "seconds": seconds,
        "soundfonts": [R.soundfont_name(p) for p in sfs], "n_examples": n_ex,
        "minutes": round(n_ex * seconds / 60.0, 3),
        "works": sorted({infos[i]["work"] for i in infos}),
        "rows_in": rows_in, "rows_out": rows_out, "output_kind": output_kind(task),
        "spectral": DEFAULT.as_dict(), "render_seconds": round(time.time() - t, 2),
    }
    if input_kind != DEFAULT_KIND:
        manifest["input_kind"] = input_kind
    if task == "pitch":
        manifest.update(pitch_layout())
        if pitch_sigma:
            manifest["pitch_sigma"] = float(pitch_sigma)
    for key in ("stem_eq_db", "other_leads", "synth_timbres"):  # recorded where set: sets rendered without them keep their manifests
        if input_settings[key]:
            manifest[key] = input_settings[key]
    if sources:
        manifest["restore_from"] = sources
    old.write_text(json.dumps(manifest, indent=1))
    return manifest


# ------------------------------------------------------------------ reading a set back

class PairedFrames:
    """A rendered set held in memory; draws random fixed-width windows for training."""

    def __init__(self, root: str | Path, allow_test: bool = False) -> None:
        root = Path(root)
        mpath = root / "manifest.json"
        if not mpath.is_file():
            raise ValueError(f"{root} is not a data set (no manifest.json); render one with python -m models.data")
        self.manifest = json.loads(mpath.read_text())
        if self.manifest.get("split") != "train" and not allow_test:
            raise ValueError(f"{root} is test-split data; training uses the train split only")
        self.xs: list[np.ndarray] = []
        self.ys: list[np.ndarray] = []
        import zipfile

        for i in range(int(self.manifest["n_examples"])):
            f = root / f"ex_{i:06d}.npz"
            try:
                with np.load(f, allow_pickle=False) as z:
                    info = json.loads(str(z["info"]))
                    x = np.ascontiguousarray(z["x"], np.float32)
                    y = np.ascontiguousarray(z["y"], np.float32)
            except (OSError, zipfile.BadZipFile, KeyError, ValueError) as e:
                raise ValueError(f"{f} is missing or damaged ({type(e).__name__}); re-run python -m models.data "
                                 f"with the same arguments to render it again") from None
            if is_test(info["work"]) and not allow_test:
                raise ValueError(f"{root}: example {i} comes from test-split work {info['work']}")
            self.xs.append(x)
            self.ys.append(y)
        self.task = self.manifest["task"]
        self.rows_in, self.rows_out = self.xs[0].shape[0], self.ys[0].shape[0]
        lens = np.array([x.shape[1] for x in self.xs], dtype=np.float64)
        self.weights = lens / lens.sum()

    @property
    def minutes(self) -> float:
        return float(self.manifest["minutes"])

    def batch(self, rng: np.random.Generator, n: int, width: int,
              target_shift: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """n random windows: (n, 1, rows_in, width), (n, 1, rows_out, width); short examples are
        padded with the image floor (-1, silence).

        ``target_shift`` S: the target window starts S frames later than the input window
        (target column j = label of frame j + S). For the pitch map, whose label is the pitch at
        a frame's centre (n_fft/2 = 2 hops before its last sample), S = 2 makes column j the
        pitch at frame j's end: what a zero-lookahead model must say "now". Windows are drawn
        so that the shifted target stays inside the example; S = 0 draws exactly as before."""
        if target_shift < 0:
            raise ValueError(f"target_shift must be >= 0, got {target_shift}")
        xb = np.full((n, 1, self.rows_in, width), -1.0, np.float32)
        yb = np.full((n, 1, self.rows_out, width), -1.0, np.float32)
        for k in range(n):
            i = int(rng.choice(len(self.xs), p=self.weights))
            T = self.xs[i].shape[1]
            s = int(rng.integers(0, max(1, T - width - target_shift + 1)))
            w = min(width, T - s)
            xb[k, 0, :, :w] = self.xs[i][:, s:s + w]
            t = self.ys[i][:, s + target_shift:s + target_shift + width]
            yb[k, 0, :, :t.shape[1]] = t
        return xb, yb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.data", description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", required=True, choices=TASKS)
    ap.add_argument("--minutes", type=float, required=True, help="audio to render, in minutes")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--soundfont", action="append", help="FluidR3_GM, TimGM6mb, sf_GMbank (alias csound) or an "
                    ".sf2 path (repeatable; default the three training soundfonts)")
    ap.add_argument("--soundfonts", help="comma-separated, the same as repeating --soundfont")
    ap.add_argument("--hold-out", action="append", help="a training soundfont to leave out (repeatable): "
                    "train on the others, test on it as an unseen timbre")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", choices=("train", "test"), default="train")
    ap.add_argument("--seconds", type=float, default=15.0, help="length of one example")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--from-models", metavar="TASK[=ONNX],...",
                    help="restore only: inputs are these task models' descaled outputs (separate, superres, "
                         "synth; a bare name is the shipped model) instead of descaled true mels")
    ap.add_argument("--from-models-chunking", metavar="NEW,LOOKAHEAD",
                    help="with --from-models: run the task models at this chunking instead of the default "
                         "profile's (1,0: the live profile's zero-lookahead column, for a net that runs there)")
    ap.add_argument("--input", default=DEFAULT_KIND, dest="input_kind",
                    help="the model's input image (streamproc.features): mel (default); logfreq for pitch (rows "
                         "on the pitch map's own pitches); mel-asym for separate (input and target under the live "
                         "profile's asymmetric window, for a model that runs there)")
    ap.add_argument("--pitch-sigma", type=float, default=0.0,
                    help="pitch only: soft targets, a Gaussian this many rows wide around the exact pitch "
                         "(default 0: the nearest row lit)")
    ap.add_argument("--stem-eq", type=float, default=0.0, metavar="DB",
                    help="separate only: each stem of a pair through a second, wider random smooth EQ within +-DB "
                         "(0..12; default 0: only the +-3 dB timbre EQ every stem has)")
    ap.add_argument("--other-leads", type=float, default=0.0, metavar="SHARE",
                    help="separate and pitch: this share of examples (0..1) has its melody on another sustained "
                         "instrument (flute, oboe, clarinet, trumpet, sax, horn, choir, strings, saw lead) instead "
                         "of the violin family (pitch: or the piano family) (default 0)")
    ap.add_argument("--synth-timbres", type=float, default=0.0, metavar="SHARE",
                    help="separate only: this share of pairs (0..1) has its melody, and independently its "
                         "accompaniment, on an additive instrument drawn at random (models.timbre) instead of "
                         "the soundfont: timbres no soundfont holds (default 0)")
    a = ap.parse_args(argv)
    sfs = (a.soundfont or []) + [s for s in (a.soundfonts or "").split(",") if s]
    try:
        sources, chunking = None, None
        if a.from_models:
            from .restore_inputs import parse_sources

            sources = parse_sources(a.from_models)
        if a.from_models_chunking:
            from .restore_inputs import parse_chunking

            chunking = parse_chunking(a.from_models_chunking)
        m = build(a.task, a.minutes, a.out, sfs or None, a.seed, a.split, a.seconds, a.jobs, hold_out=a.hold_out,
                  input_kind=a.input_kind, pitch_sigma=a.pitch_sigma,
                  restore_from=sources, restore_chunking=chunking, stem_eq_db=a.stem_eq,
                  other_leads=a.other_leads, synth_timbres=a.synth_timbres)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{m['n_examples']} examples, {m['minutes']} min, {len(m['works'])} works, "
          f"{' + '.join(m['soundfonts'])} -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
