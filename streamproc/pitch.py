"""Pitch tracking: the model's pitch map -> f0 per frame, a 10 ms f0 track, notes, and a sine.

A pitch model translates each log-mel frame into a column of the pitch map: row r stands for
MIDI pitch ``pitch_min_midi + r / bins_per_semitone`` (quarter tones by default), +1 where the
note sounds, -1 elsewhere (``OnnxFrameModel.pitch_layout``). Decoding takes the strongest row of
each frame, refines it between rows by the centroid of its neighbours, and calls the frame
voiced when that row is bright enough. Frame k describes the instant at its centre, sample
``k*hop + hop - n_fft/2`` at 16 kHz (``models.data.frame_centres``).

Two uses share the engine's stages (framer -> MelFeatures -> Chunker -> :class:`PitchDecode`):
``track_pitch`` for files (f0 on a 10 ms grid, notes, CSV/MIDI/JSON) and the ``pitch`` task's
:class:`SineSynth`, which sonifies the track live, time-aligned with its input.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import dsp
from .audio_io import atomic_write
from .config import DEFAULT, SpectralConfig
from .engine import Core
from .errors import UserError
from .frame_model import FrameModel
from .frames import Frames
from .stages import Chunker, FramewiseStage, MelFeatures

DEFAULT_LAYOUT = {"pitch_min_midi": 36.0, "bins_per_semitone": 2, "n_pitch_bins": 128,
                  "pitchmap_on": 1.0, "pitchmap_off": -1.0}
# A frame is voiced when its brightest row exceeds off + VOICING_LEVEL * (on - off): 0.0 in the
# default [-1, 1] map. Chosen on TRAINING data only (never the test split): the pitch model of
# runs/pitch (class-balanced L1 + GAN) at step 1500, exported to ONNX, on the first 60 examples
# of data/pitch (train split), thresholds -0.9..0.9 in steps of 0.1, scored frame by frame
# against the target maps. 98.8 % of those frames are voiced (legato melodies), so plain voicing
# accuracy is degenerate (best: voice everything, 0.988); we took the threshold that maximises
# the mean of overall accuracy (mir_eval's sense: unvoiced right, or voiced within 50 cents) and
# balanced voicing accuracy (mean of voiced recall and unvoiced true-negative rate). That mean is
# flat from -0.2 to 0.2 (0.719-0.720); at 0.0: voicing accuracy 0.928, voiced recall 0.934,
# unvoiced true negatives 0.491, raw pitch accuracy 0.730, overall accuracy 0.727. Re-run with
# the step-3000 export (same 60 examples): the mean peaks at -0.4 (0.679), 0.0 gives 0.674 and
# voicing accuracy 0.823, raw pitch 0.677; kept. A model may carry its own threshold in its
# metadata (``voicing_threshold``), which then wins.
VOICING_LEVEL = 0.5
TRACK_HOP_S = 0.01           # the f0 track's grid: every 10 ms from 0
PITCH_EXTENSIONS = (".csv", ".mid", ".midi", ".json")


def midi_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(m, dtype=np.float64) - 69.0) / 12.0)


def hz_to_midi(f: np.ndarray | float) -> np.ndarray:
    return 69.0 + 12.0 * np.log2(np.asarray(f, dtype=np.float64) / 440.0)


def voicing_threshold(layout: dict, level: float = VOICING_LEVEL) -> float:
    off, on = float(layout.get("pitchmap_off", -1.0)), float(layout.get("pitchmap_on", 1.0))
    return off + level * (on - off)


def decode_pitchmap(pm: np.ndarray, layout: dict, threshold: float | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(frames, rows) pitch map -> (MIDI pitch per frame, voiced per frame).

    The brightest row, moved towards its brighter neighbour by the centroid of the three rows'
    heights above ``pitchmap_off``: a single lit row decodes to its own pitch, two equally lit
    rows to the pitch between them (sub-bin accuracy for detuned notes). Each frame is decoded
    on its own, so the result never depends on how frames were batched.
    """
    pm = np.asarray(pm, dtype=np.float64)
    if pm.ndim != 2:
        raise ValueError(f"pitch map must be (frames, rows), got shape {pm.shape}")
    n, rows = pm.shape
    if n == 0:
        return np.zeros(0), np.zeros(0, bool)
    thr = voicing_threshold(layout) if threshold is None else float(threshold)
    idx = np.arange(n)
    r = np.argmax(pm, axis=1)
    peak = pm[idx, r]
    h = np.maximum(pm - float(layout.get("pitchmap_off", -1.0)), 0.0)
    below = np.where(r > 0, h[idx, np.maximum(r - 1, 0)], 0.0)
    above = np.where(r < rows - 1, h[idx, np.minimum(r + 1, rows - 1)], 0.0)
    total = below + h[idx, r] + above
    delta = np.divide(above - below, total, out=np.zeros(n), where=total > 0)
    midi = float(layout["pitch_min_midi"]) + (r + delta) / float(layout["bins_per_semitone"])
    return midi, peak > thr


# ----------------------------------------------------------------------------- engine stages

class PitchDecode(FramewiseStage):
    """Pitch-map features -> features of two columns: MIDI pitch and voiced (1.0 or 0.0)."""

    def __init__(self, cfg: SpectralConfig, layout: dict, threshold: float | None = None) -> None:
        super().__init__(cfg)
        self.layout = layout
        self.threshold = threshold

    def process(self, frames: Frames) -> Frames:
        if not len(frames):
            return frames
        midi, voiced = decode_pitchmap(frames.features, self.layout, self.threshold)
        return frames.with_(features=np.column_stack([midi, voiced.astype(np.float64)]))


@lru_cache(maxsize=None)
def _rms_factor(n_fft: int) -> float:
    """energy-of-spectrum -> mean square under the window (Parseval on the one-sided spectrum;
    ``dsp`` scales spectra by 2 / sum(window))."""
    w = dsp.analysis_window(n_fft)
    scale = 2.0 / w.sum()
    return 2.0 / (scale * scale * n_fft * float(np.dot(w, w)))


def frame_rms(stft: np.ndarray, cfg: SpectralConfig) -> np.ndarray:
    """RMS of the input under each frame's window, from its (amplitude-scaled) spectrum:
    (frames, bins) -> (frames,); one row -> a 0-d array."""
    power = np.sum(np.abs(np.asarray(stft)) ** 2, axis=-1)
    return np.sqrt(power * _rms_factor(cfg.n_fft))


class SineSynth:
    """Decoded frames -> a sine at the tracked pitch, as loud (RMS) as the input frame.

    After frame k it emits the ``hop`` samples between the centres of frames k-1 and k, so
    each output sample lies between the two frames that describe it: the pitch glides there
    (in log-frequency), and the amplitude moves linearly from one frame's to the next's, which
    fades the tone in and out where voicing changes. Phase runs on across frames and blocks.
    Frame k is complete when input sample (k+1)*hop - 1 has arrived and its centre lies
    n_fft/2 - hop samples before that, so the synthesiser's own latency is n_fft/2.
    """

    def __init__(self, cfg: SpectralConfig) -> None:
        self.cfg = cfg
        self.latency = cfg.n_fft // 2
        self._u = np.arange(cfg.hop, dtype=np.float64) / cfg.hop
        self.reset()

    def reset(self) -> None:
        self._f0 = 0.0       # Hz of the previous frame (0: none yet)
        self._amp = 0.0      # amplitude of the previous frame (0 when unvoiced)
        self._phase = 0.0
        self._skip = self.cfg.n_fft // 2  # frames 0 and 1 describe the time before sample 0

    def process(self, frames: Frames) -> np.ndarray:
        c = self.cfg
        n = len(frames)
        if n == 0:
            return np.zeros(0)
        out = np.empty(n * c.hop)
        step = 2.0 * math.pi / c.sample_rate
        amps = math.sqrt(2.0) * frame_rms(frames.stft, c)
        for k in range(n):
            midi, voiced = frames.features[k]
            f0 = float(midi_to_hz(midi)) if voiced else 0.0
            amp = float(amps[k]) if voiced else 0.0
            prev = self._f0 if self._amp > 0 else 0.0
            if prev > 0 and f0 > 0:
                f = prev * (f0 / prev) ** self._u
            else:  # fading in or out: hold the voiced side's pitch
                f = np.full(c.hop, f0 or prev or 0.0)
            a = self._amp + (amp - self._amp) * self._u
            phase = self._phase + np.cumsum(f * step)
            out[k * c.hop:(k + 1) * c.hop] = a * np.sin(phase)
            self._phase = float(phase[-1] % (2.0 * math.pi))
            self._f0, self._amp = (f0 if f0 > 0 else prev), amp
        if self._skip:
            drop = min(self._skip, len(out))
            self._skip -= drop
            out = out[drop:]
        return out


def model_threshold(model: FrameModel) -> float | None:
    """A model's own voicing threshold (metadata ``voicing_threshold``, map units), if it has one."""
    value = (getattr(model, "metadata", None) or {}).get("voicing_threshold")
    try:
        return None if value is None else float(value)
    except ValueError:
        raise UserError(f"pitch model has a malformed voicing_threshold {value!r}") from None


def _layout(model: FrameModel) -> dict:
    kind = getattr(model, "output_kind", "mel")
    if kind != "pitchmap":
        raise UserError(f"task pitch needs a model that outputs a pitch map, this one outputs {kind}")
    layout = getattr(model, "pitch_layout", None) or DEFAULT_LAYOUT
    if int(layout["n_pitch_bins"]) != model.n_outputs:
        raise UserError(f"pitch model has {model.n_outputs} output rows but its layout says "
                        f"{layout['n_pitch_bins']}")
    return layout


def build_pitch_core(spec, model: FrameModel) -> Core:
    """The ``pitch`` task: mel -> model -> decode -> sine (see :class:`SineSynth`)."""
    cfg, prof = spec.cfg, spec.profile
    new, lookahead = prof.chunking(spec.task, spec.recon)
    stages = [MelFeatures(cfg), Chunker(model, new=new, lookahead=lookahead),
              PitchDecode(cfg, _layout(model), model_threshold(model))]
    return Core(cfg, stages, SineSynth(cfg))


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


def _resolve_model(model: FrameModel | str | Path | None, cfg: SpectralConfig) -> FrameModel:
    from .tasks import task_model

    resolved = task_model("pitch", model, cfg)
    if resolved is None:
        raise UserError("no trained pitch model ships with this version yet; pass one with "
                        "--model FILE.onnx (see models/README.md)")
    return resolved


def _model_name(model: FrameModel) -> str:
    path = getattr(model, "path", None)
    return Path(path).name if path is not None else type(model).__name__


def frame_tracks(x16: np.ndarray, model: FrameModel, cfg: SpectralConfig = DEFAULT,
                 block: int = 1 << 16, profile: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """16 kHz mono -> per frame (MIDI pitch, voiced, RMS), frames 0.. until the last centre
    past the end. Runs the engine's own stages block by block (bounded memory); ``profile``
    sets the model's chunking as in live use (default: offline, the model's own)."""
    from .tasks import OFFLINE_PROFILE, resolve

    core = build_pitch_core(resolve("pitch", None, profile or OFFLINE_PROFILE), model)
    core.reset()
    lat_frames = sum(s.latency for s in core.stages)
    need = (len(x16) + cfg.n_fft // 2 - cfg.hop) // cfg.hop + 2  # frames whose centre reaches the end
    src = np.concatenate([np.asarray(x16, dtype=np.float64), np.zeros((lat_frames + 2) * cfg.hop + cfg.n_fft)])
    midi, voiced, rms = [], [], []
    for start in range(0, len(src), block):
        frames = core.framer.process(src[start:start + block])
        for stage in core.stages:
            if not len(frames):
                break
            frames = stage.process(frames)
        if len(frames):
            midi.append(frames.features[:, 0])
            voiced.append(frames.features[:, 1] > 0.5)
            rms.append(frame_rms(frames.stft, cfg))
    cat = lambda parts, dtype: np.concatenate(parts)[:need] if parts else np.zeros(0, dtype)  # noqa: E731
    return cat(midi, float), cat(voiced, bool), cat(rms, float)


def frames_to_grid(midi: np.ndarray, voiced: np.ndarray, rms: np.ndarray, duration_s: float,
                   cfg: SpectralConfig = DEFAULT) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Frame values -> (times, f0 Hz, level dB, f0 guess Hz) every 10 ms from 0 up to the duration.

    Between two frame centres f0 is interpolated in log-frequency; a grid point is unvoiced
    when either neighbouring frame is (unless it falls exactly on a frame centre)."""
    times = np.arange(int(math.ceil(duration_s / TRACK_HOP_S - 1e-9))) * TRACK_HOP_S
    if not len(midi):
        return times, np.zeros(len(times)), np.full(len(times), -120.0), np.zeros(len(times))
    pos = (times * cfg.sample_rate - (cfg.hop - cfg.n_fft // 2)) / cfg.hop  # fractional frame index
    k0 = np.clip(np.floor(pos).astype(int), 0, len(midi) - 1)
    k1 = np.minimum(k0 + 1, len(midi) - 1)
    w = np.clip(pos - k0, 0.0, 1.0)
    on = voiced[k0] & (voiced[k1] | (w == 0))
    m = (1 - w) * midi[k0] + w * midi[k1]  # linear in MIDI = linear in log-f0
    guess = midi_to_hz(m)
    f0 = np.where(on, guess, 0.0)
    db = 20 * np.log10(np.maximum((1 - w) * rms[k0] + w * rms[k1], 1e-6))
    return times, f0, db, guess


def track_pitch(audio: np.ndarray, sample_rate: int, model: FrameModel | str | Path | None = None,
                profile: str | None = None) -> PitchTrack:
    """f0 of a mono recording every 10 ms (0 = unvoiced), through the streaming engine's stages.

    ``model``: a pitch FrameModel or ONNX path; default the shipped ``pitch`` model.
    ``profile``: the model's chunking of a live profile (default: offline, ``quality``)."""
    x = np.asarray(audio, dtype=np.float64)
    if x.ndim != 1:
        raise UserError(f"track_pitch takes mono audio (1-D), got shape {x.shape}; mix it down first")
    if int(sample_rate) != sample_rate or sample_rate <= 0:
        raise UserError(f"sample rate must be a positive whole number of Hz, got {sample_rate}")
    if not np.all(np.isfinite(x)):
        raise UserError("audio contains NaN or infinite samples")
    cfg = DEFAULT
    fm = _resolve_model(model, cfg)
    if sample_rate != cfg.sample_rate:
        import soxr

        x16 = soxr.resample(x, int(sample_rate), cfg.sample_rate, quality="HQ")
    else:
        x16 = x
    midi, voiced, rms = frame_tracks(x16, fm, cfg, profile=profile)
    times, f0, db, guess = frames_to_grid(midi, voiced, rms, len(x) / sample_rate, cfg)
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

def write_csv(track: PitchTrack, path: Path) -> None:
    """``time,f0`` per 10 ms; f0 in Hz, 0 for unvoiced."""
    lines = ["time,f0"] + [f"{t:.3f},{f:.2f}" if f > 0 else f"{t:.3f},0" for t, f in zip(track.times, track.f0)]
    text = "\n".join(lines) + "\n"
    atomic_write(Path(path), lambda tmp: Path(tmp).write_text(text))


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
