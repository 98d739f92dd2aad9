"""Pitch tracking for files: f0 every 10 ms, notes, and CSV/MIDI/JSON writers.

It runs the ``pitch`` task's own engine stages (``streamproc.pitch_stages``: framer ->
MelFeatures -> Chunker -> PitchDecode) block by block, so a file is tracked exactly as the
live effect hears it. Decoding a pitch map: ``streamproc.pitchmap``.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, NamedTuple

import numpy as np

from .audio_io import atomic_write
from .config import DEFAULT, SpectralConfig
from .errors import UserError
from .frame_model import FrameModel, target_shift_frames
from .lowdelay import host_config
from .pitch_stages import frame_rms, model_layout, window_rms_factor
from .pitchmap import DEFAULT_LAYOUT, decode_pitchmap, hz_to_midi, midi_to_hz, note_change_at  # noqa: F401 (the pitch API)
from .spec import OFFLINE_PROFILE, PROFILES, resolve, task_model
from .tasks import build_core

TRACK_HOP_S = 0.01           # the f0 track's grid: every 10 ms from 0
PITCH_EXTENSIONS = (".csv", ".mid", ".midi", ".json")


# ----------------------------------------------------------------------------- offline tracking

@dataclass
class PitchTrack:
    """f0 every 10 ms from time 0 (Hz, 0 = unvoiced) and the input level there (dBFS RMS).

    ``f0_guess``: the decoded pitch at every point, voiced or not (what mir_eval's raw pitch
    accuracy wants as the negative f0 of unvoiced frames)."""
    times: np.ndarray
    f0: np.ndarray
    level_db: np.ndarray
    sample_rate: int
    model: str = ""
    f0_guess: np.ndarray | None = None

    @property
    def voiced(self) -> np.ndarray:
        return self.f0 > 0


def _resolve_model(model: FrameModel | str | Path | None, cfg: SpectralConfig,
                   profile: str | None = None) -> FrameModel:
    resolved = task_model("pitch", model, cfg, profile=PROFILES[profile or OFFLINE_PROFILE])
    if resolved is None:
        raise UserError("no trained pitch model ships with this version yet; pass one with "
                        "--model FILE.onnx (see models/README.md)")
    return resolved


def _frame_config(cfg: SpectralConfig, profile: str | None) -> SpectralConfig:
    """The framing the pitch core runs on under ``profile`` (a low-delay one: shorter hops)."""
    settings = PROFILES[profile or OFFLINE_PROFILE].low_delay
    return cfg if settings is None else host_config(cfg, cfg.sample_rate, settings.hop_ms)[0]


def _model_name(model: FrameModel) -> str:
    path = getattr(model, "path", None)
    return Path(path).name if path is not None else type(model).__name__


def _oversample(profile: str | None, oversample: int | None) -> int:
    """Passes per model hop: ``oversample``, by default 1. Offline tracking ran 2 until note
    changes were placed from the maps (``note_change_at``); since then one pass measures as well
    or better, at half the cost (the pitch card, ninth round). Live profiles take only 1, whose
    chunking and cost the track then reproduces."""
    if oversample is None:
        return 1
    if oversample not in (1, 2, 4, 8):
        raise UserError(f"oversample must be 1, 2, 4 or 8 (it divides the model's hop), got {oversample}")
    if oversample > 1 and PROFILES[profile or OFFLINE_PROFILE].low_delay is not None:
        raise UserError(f"the {profile} profile frames on its own short hops; it takes no oversampling")
    return int(oversample)


class FrameTrack(NamedTuple):
    """Per model frame, in time order: MIDI pitch, voiced, input RMS, and ``change_at``: where
    between this frame's instant (0) and the next one's (1) a note change falls, should the two
    frames hold different notes (:func:`streamproc.pitchmap.note_change_at`; 0.5 for the last)."""
    midi: np.ndarray
    voiced: np.ndarray
    rms: np.ndarray
    change_at: np.ndarray


class _Pass:
    """One run of the pitch core over the stream, ``lead`` samples in: its frames' centres lie
    ``lead`` samples later than an unshifted run's. Its frames wait in ``pending`` until
    :class:`_Interleaver` takes them."""

    def __init__(self, model: FrameModel, cfg: SpectralConfig, profile: str | None, lead: int,
                 follow_level: bool = False):
        self.core = build_core(resolve("pitch", None, profile or OFFLINE_PROFILE, cfg=cfg, follow_level=follow_level),
                               model)
        self.core.reset()
        self.cfg = self.core.cfg  # a low-delay profile frames on shorter hops
        self.layout = model_layout(model)
        self.rms_factor = window_rms_factor(self.core.framer.analysis_window)
        self.skip = lead
        self.pending: list[tuple[np.ndarray, ...]] = []  # (midi, voiced, rms, map) per batch of frames
        self.produced = 0

    def push(self, chunk: np.ndarray) -> None:
        if self.skip:
            dropped = min(self.skip, len(chunk))
            chunk, self.skip = chunk[dropped:], self.skip - dropped
        frames = self.core.framer.process(np.asarray(chunk, dtype=np.float64))
        for stage in self.core.stages:
            if not len(frames):
                return
            frames = stage.process(frames)
        if len(frames):
            pitch = frames.get("pitch")
            self.pending.append((pitch[:, 0], pitch[:, 1] > 0.5, frame_rms(frames.stft, self.cfg, self.rms_factor),
                                 np.asarray(frames.get("features"), np.float64)))
            self.produced += len(frames)

    def available(self) -> int:
        return sum(len(part[0]) for part in self.pending)

    def take(self, n: int) -> tuple[np.ndarray, ...]:
        """The next ``n`` pending frames' (midi, voiced, rms, map)."""
        joined = [np.concatenate(parts) for parts in zip(*self.pending)]
        self.pending = [tuple(a[n:] for a in joined)] if joined and len(joined[0]) > n else []
        return tuple(a[:n] for a in joined)

    def finish(self, n: int) -> int:
        """Flush; how many frames the pass has, up to the last whose centre reaches the end of
        ``n`` samples."""
        cfg = self.cfg
        self.push(np.zeros((self.core.latency_frames + 2) * cfg.hop + cfg.n_fft))
        return min(self.produced, (n + cfg.n_fft // 2 - cfg.hop) // cfg.hop + 2)


class _Interleaver:
    """Frames of K passes, interleaved in time order as they arrive (frame i of pass 0, of pass
    1, ..., then frame i+1), with the note-change point between each frame and the next. Only
    the maps of the frames not yet interleaved, and the last one, are held: memory stays
    bounded however long the stream."""

    def __init__(self, passes: list[_Pass]) -> None:
        self.passes = passes
        self.parts: list[list[np.ndarray]] = [[], [], [], []]  # midi, voiced, rms, change_at
        self.last_map: np.ndarray | None = None
        self.rounds = 0  # frames taken from each pass
        self.limit: int | None = None

    def drain(self, limit: int | None = None) -> None:
        n = min(p.available() for p in self.passes)
        if limit is not None:
            self.limit = limit
            n = min(n, limit - self.rounds)
        if n <= 0:
            return
        taken = [p.take(n) for p in self.passes]
        midi, voiced, rms, maps = (np.stack([t[i] for t in taken], axis=1).reshape(n * len(taken), *t0.shape[1:])
                                   for i, t0 in enumerate(taken[0]))
        if self.last_map is not None:
            self.parts[3].append(note_change_at(self.last_map[None], maps[:1], self.passes[0].layout))
        self.parts[3].append(note_change_at(maps[:-1], maps[1:], self.passes[0].layout))
        for part, values in zip(self.parts, (midi, voiced, rms)):
            part.append(values)
        self.last_map = maps[-1]
        self.rounds += n

    def result(self) -> FrameTrack:
        midi, voiced, rms = (np.concatenate(p) if p else np.zeros(0, t) for p, t in zip(self.parts, (float, bool, float)))
        change_at = np.concatenate(self.parts[3] + [np.full(1 if len(midi) else 0, 0.5)])
        cut = len(midi) if self.limit is None else self.limit * len(self.passes)
        return FrameTrack(midi[:cut], voiced[:cut], rms[:cut], change_at[:cut])


def frame_tracks(x16: np.ndarray | Iterable[np.ndarray], model: FrameModel, cfg: SpectralConfig = DEFAULT,
                 block: int = 1 << 16, profile: str | None = None, oversample: int = 1,
                 follow_level: bool = False) -> FrameTrack:
    """Model-rate mono (an array, or an iterable of blocks of any length) -> per frame (MIDI
    pitch, voiced, RMS, note-change point), frames 0.. until the last centre past the end. Runs
    the engine's own stages under ``cfg`` block by block (bounded memory); ``profile`` sets the
    model's chunking as in live use (default: offline, the model's own).

    ``oversample`` K > 1 runs K passes, the j-th starting j/K of a hop later, and interleaves
    their frames: K frames per hop, each still the model's own 16 ms framing. Why: nearly all
    pitch errors lie at note changes, and where a change falls between two frames is only
    known to half their spacing.

    ``follow_level``: the model's images follow the input's level as a streaming host's
    ``level="auto"`` does (``streamproc.level.LevelFollower``)."""
    passes = [_Pass(model, cfg, profile, (j * cfg.hop) // oversample, follow_level) for j in range(oversample)]
    frames = _Interleaver(passes)
    if isinstance(x16, np.ndarray):
        x16 = [x16[i:i + block] for i in range(0, len(x16), block)]
    n = 0
    for chunk in x16:
        n += len(chunk)
        for p in passes:
            p.push(chunk)
        frames.drain()
    frames.drain(limit=min(p.finish(max(n - (j * cfg.hop) // oversample, 0)) for j, p in enumerate(passes)))
    return frames.result()


NOTE_CHANGE_SEMITONES = 0.5  # two frames further apart hold two notes, not one bending


def _neighbours(times: np.ndarray, n: int, cfg: SpectralConfig, shift_samples: int, oversample: int = 1
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(k0, k1, weight of k1): the two frames whose described instants (centre + shift) enclose
    each time; ``oversample`` frames per hop (:func:`frame_tracks`)."""
    step = cfg.hop / oversample
    pos = (times * cfg.sample_rate - (cfg.hop - cfg.n_fft // 2 + shift_samples)) / step  # fractional frame
    k0 = np.clip(np.floor(pos).astype(int), 0, n - 1)
    return k0, np.minimum(k0 + 1, n - 1), np.clip(pos - k0, 0.0, 1.0)


def frames_to_grid(midi: np.ndarray, voiced: np.ndarray, rms: np.ndarray, duration_s: float,
                   cfg: SpectralConfig = DEFAULT, shift_samples: int = 0, oversample: int = 1,
                   change_at: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Frame values -> (times, f0 Hz, level dB, f0 guess Hz) every 10 ms from 0 up to the duration.

    Between the instants two frames describe (their centres, ``shift_samples`` later for a model
    trained with a target shift: :func:`model_shift_samples`) f0 is interpolated in log-frequency
    (vibrato, glides), except across a note change (more than ``NOTE_CHANGE_SEMITONES`` between
    the two frames), where each grid point takes the pitch of the frame on its side of the
    change: an interpolated pitch there is neither note (on the test clips it cost about 0.01 of
    raw pitch accuracy). The change lies at ``change_at[k]`` of the way from frame k to k+1
    (:class:`FrameTrack`), or half-way when that is not given.
    A grid point is unvoiced when either neighbouring frame is (unless it falls exactly on a
    frame's instant). The level is the RMS under the frames' windows, between their centres.
    ``oversample``: frames per hop, as :func:`frame_tracks` made them."""
    times = np.arange(int(math.ceil(duration_s / TRACK_HOP_S - 1e-9))) * TRACK_HOP_S
    if not len(midi):
        return times, np.zeros(len(times)), np.full(len(times), -120.0), np.zeros(len(times))
    k0, k1, w = _neighbours(times, len(midi), cfg, shift_samples, oversample)
    on = voiced[k0] & (voiced[k1] | (w == 0))
    m = (1 - w) * midi[k0] + w * midi[k1]  # linear in MIDI = linear in log-f0
    cut = 0.5 if change_at is None else np.asarray(change_at, np.float64)[k0]
    nearer = np.where(w < cut, midi[k0], midi[k1])
    m = np.where(np.abs(midi[k1] - midi[k0]) > NOTE_CHANGE_SEMITONES, nearer, m)
    guess = midi_to_hz(m)
    f0 = np.where(on, guess, 0.0)
    k0, k1, w = _neighbours(times, len(rms), cfg, 0, oversample)
    db = 20 * np.log10(np.maximum((1 - w) * rms[k0] + w * rms[k1], 1e-6))
    return times, f0, db, guess


def model_shift_samples(model: FrameModel, cfg: SpectralConfig = DEFAULT) -> int:
    """How much later than its frame's centre a model's frame describes, in model-rate samples:
    its target shift times the hop it was trained on (``cfg``, the model's framing)."""
    return target_shift_frames(model) * cfg.hop


def track_pitch(audio: np.ndarray, sample_rate: int, model: FrameModel | str | Path | None = None,
                profile: str | None = None, oversample: int | None = None, follow_level: bool = False,
                level: str = "off") -> PitchTrack:
    """f0 of a mono recording every 10 ms (0 = unvoiced), through the streaming engine's stages.

    ``model``: a pitch FrameModel or ONNX path; default the shipped ``pitch`` model.
    ``profile``: the model's chunking of a live profile (default: offline, ``quality``).
    ``oversample``: model passes per hop (1, 2, 4, 8; default 1; more only offline):
    :func:`frame_tracks`, as is ``follow_level`` (the streaming hosts' causal follower).
    ``level``: ``auto`` tracks the recording as ``streamproc pitch`` does a file: without its DC
    offset, at the one gain that brings its loudness to the models' (``streamproc.level``); the
    track's ``level_db`` stays the input's. ``off`` (default) feeds the models the samples as they are."""
    from .level import LEVELS, LevelMeter, level_gain_db

    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1:
        raise UserError(f"track_pitch takes mono audio (1-D), got shape {x.shape}; mix it down first")
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise UserError(f"sample rate must be a positive whole number of Hz, got {sample_rate}")
    if not np.all(np.isfinite(x)):
        raise UserError("audio contains NaN or infinite samples")
    if level not in LEVELS:
        raise UserError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    gain_db = 0.0
    if level == "auto":
        meter = LevelMeter(int(sample_rate), 1)
        meter.push(x[None])
        gain_db = level_gain_db(meter.peak, meter.loudness_dbfs, level)
        x = (x - float(meter.dc[0])) * 10.0 ** (gain_db / 20.0)
    cfg = DEFAULT
    k = _oversample(profile, oversample)
    fm = _resolve_model(model, cfg, profile)
    if sample_rate != cfg.sample_rate:
        import soxr

        x16 = soxr.resample(x, int(sample_rate), cfg.sample_rate, quality="HQ")
    else:
        x16 = x
    frames = frame_tracks(x16, fm, cfg, profile=profile, oversample=k, follow_level=follow_level)
    times, f0, db, guess = frames_to_grid(frames.midi, frames.voiced, frames.rms, len(x) / sample_rate,
                                          _frame_config(cfg, profile), model_shift_samples(fm, cfg), k, frames.change_at)
    return PitchTrack(times, f0, db - gain_db, int(sample_rate), _model_name(fm), guess)


def track_pitch_blocks(blocks: Iterable[np.ndarray], sample_rate: int,
                       model: FrameModel | str | Path | None = None, profile: str | None = None,
                       oversample: int | None = None) -> PitchTrack:
    """:func:`track_pitch` of a recording given as mono blocks: any length in bounded memory
    (the 16 kHz resampling streams too)."""
    from .resample import StreamResampler

    cfg = DEFAULT
    k = _oversample(profile, oversample)
    fm = _resolve_model(model, cfg, profile)
    rs = StreamResampler(int(sample_rate), cfg.sample_rate, 1)
    count = [0]

    def at16k() -> Iterator[np.ndarray]:
        for b in blocks:
            b = np.asarray(b, dtype=np.float64)
            count[0] += len(b)
            yield rs.push(b[None])[0]
        yield rs.push(np.zeros((1, 0)), last=True)[0]

    frames = frame_tracks(at16k(), fm, cfg, profile=profile, oversample=k)
    times, f0, db, guess = frames_to_grid(frames.midi, frames.voiced, frames.rms, count[0] / sample_rate,
                                          _frame_config(cfg, profile), model_shift_samples(fm, cfg), k, frames.change_at)
    return PitchTrack(times, f0, db, int(sample_rate), _model_name(fm), guess)


# ----------------------------------------------------------------------------- notes

@dataclass(frozen=True)
class Note:
    start: float   # s
    end: float     # s
    pitch: int     # MIDI
    velocity: int  # 1..127


def _runs(labels: np.ndarray) -> list[list[int]]:
    """[[label, start, stop], ...] of equal consecutive labels."""
    if not len(labels):
        return []
    cut = np.flatnonzero(np.diff(labels)) + 1
    starts = np.concatenate([[0], cut])
    stops = np.concatenate([cut, [len(labels)]])
    return [[int(labels[a]), int(a), int(b)] for a, b in zip(starts, stops)]


def _smooth_labels(labels: np.ndarray, glitch: int) -> np.ndarray:
    """Absorbs runs of at most ``glitch`` grid points: a short pitch excursion or dropout
    inside one note becomes that note; a short voiced run next to a note joins the longer
    voiced neighbour. Short unvoiced gaps between different pitches stay (note boundaries)."""
    out = labels.copy()
    runs = _runs(labels)
    for i, (lab, a, b) in enumerate(runs):
        if b - a > glitch:
            continue
        prev = runs[i - 1] if i > 0 else None
        nxt = runs[i + 1] if i + 1 < len(runs) else None
        if prev and nxt and prev[0] == nxt[0] and prev[0] >= 0:
            out[a:b] = prev[0]
        elif lab >= 0:
            voiced = [r for r in (prev, nxt) if r and r[0] >= 0 and r[2] - r[1] > glitch]
            if voiced:
                out[a:b] = max(voiced, key=lambda r: r[2] - r[1])[0]
    return out


def velocity_from_db(db: float) -> int:
    """Level (dBFS RMS) -> MIDI velocity: -60 dB and below -> 1, 0 dB -> 127, linear between."""
    return int(np.clip(round(127 * (1 + db / 60.0)), 1, 127))


def notes_from_track(track: PitchTrack, min_duration: float = 0.06, glitch: int = 2) -> list[Note]:
    """Notes where the rounded pitch stays put over a voiced run, glitches of up to ``glitch``
    grid points (10 ms each) tolerated; notes shorter than ``min_duration`` s are dropped."""
    f0 = np.asarray(track.f0, dtype=np.float64)
    labels = np.full(len(f0), -1, dtype=np.int64)
    v = f0 > 0
    labels[v] = np.rint(hz_to_midi(f0[v])).astype(np.int64)
    labels = _smooth_labels(labels, glitch)
    notes = []
    for lab, a, b in _runs(labels):
        if lab < 0 or (b - a) * TRACK_HOP_S < min_duration - 1e-9:
            continue
        level = float(np.max(track.level_db[a:b])) if len(track.level_db) else -20.0
        notes.append(Note(round(float(track.times[a]), 3), round(float(track.times[b - 1]) + TRACK_HOP_S, 3),
                          int(np.clip(lab, 0, 127)), velocity_from_db(level)))
    return notes


# ----------------------------------------------------------------------------- writers

CSV_ROWS = 10000  # rows formatted at a time: an hour's track (360 000 rows) is never one string


def write_csv(track: PitchTrack, path: Path) -> None:
    """``time,f0`` per 10 ms; f0 in Hz, 0 for unvoiced."""
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            f.write("time,f0\n")
            for i in range(0, len(track.times), CSV_ROWS):
                f.write("".join(f"{t:.3f},{v:.2f}\n" if v > 0 else f"{t:.3f},0\n"
                                for t, v in zip(track.times[i:i + CSV_ROWS], track.f0[i:i + CSV_ROWS])))

    atomic_write(Path(path), write)


def write_midi(notes: list[Note], path: Path, program: int = 40) -> None:
    """The notes as a one-track MIDI file (General MIDI program 40: violin)."""
    import pretty_midi

    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=program, name="streamproc pitch")
    inst.notes = [pretty_midi.Note(velocity=n.velocity, pitch=n.pitch, start=n.start, end=n.end) for n in notes]
    pm.instruments.append(inst)
    atomic_write(Path(path), lambda tmp: pm.write(tmp))


def write_json(track: PitchTrack, notes: list[Note], path: Path) -> None:
    doc = {"model": track.model, "sample_rate": track.sample_rate, "hop_s": TRACK_HOP_S,
           "times": [round(float(t), 3) for t in track.times],
           "f0": [round(float(f), 2) for f in track.f0],
           "voiced": [bool(v) for v in track.voiced],
           "notes": [{"start": n.start, "end": n.end, "pitch": n.pitch, "velocity": n.velocity} for n in notes]}
    text = json.dumps(doc, indent=1)
    atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text))


def write_pitch(track: PitchTrack, path: str | Path) -> None:
    """CSV, MIDI or JSON by the extension (one of PITCH_EXTENSIONS)."""
    p = Path(path)
    ext = p.suffix.lower()
    if ext == ".csv":
        write_csv(track, p)
    elif ext in (".mid", ".midi"):
        write_midi(notes_from_track(track), p)
    elif ext == ".json":
        write_json(track, notes_from_track(track), p)
    else:
        raise UserError(f"unsupported pitch output format {ext or '(no extension)'!r} for {p} "
                        f"(use {', '.join(e[1:] for e in PITCH_EXTENSIONS)})")
