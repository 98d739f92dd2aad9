"""Playing as a player would: articulation, vibrato and dynamics for a note list.

A score's notes (start, end, midi, velocity) become a *performance*: note lengths varied by
phrase (legato, detached, plain) and by note, accents, and the controller curves that
FluidSynth plays (``models.render.Controls``): vibrato as a pitch-bend curve (4-7 Hz, 5-40
cents, often starting late in the note) and expression (CC11) swells. The pitch-bend curve is
also what the pitch labels follow (``pitch_at``), so labels and audio cannot disagree.
Every draw comes from the ``numpy.random.Generator`` passed in.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .render import BLOCK, SAMPLE_RATE, Controls

BLOCK_RATE = SAMPLE_RATE / BLOCK          # controller updates per second (250 at 16 kHz)
VIBRATO_HZ = (4.0, 7.0)
VIBRATO_CENTS = (5.0, 40.0)               # peak deviation
ARTICULATIONS = ("legato", "plain", "detached")


@dataclass
class Performance:
    notes: np.ndarray          # (n, 4) start_s, end_s, midi, velocity (lengths as played)
    controls: Controls
    articulation: str

    def pitch_at(self, times: np.ndarray, note_midi: np.ndarray | float) -> np.ndarray:
        """Sounding pitch (fractional MIDI) at ``times`` (s) of notes at ``note_midi``: the
        note plus the pitch-bend curve in force at that instant (block-held, as rendered)."""
        k = np.clip((np.asarray(times) * BLOCK_RATE).astype(int), 0, len(self.controls.bend_cents) - 1)
        return np.asarray(note_midi, np.float64) + self.controls.bend_cents[k] / 100.0


def articulate(notes: np.ndarray, rng: np.random.Generator, style: str | None = None) -> tuple[np.ndarray, str]:
    """Vary the played lengths of a monophonic line: ``legato`` (each note runs 5-40 ms into
    the next), ``plain`` (80-100 % of the written gap) or ``detached`` (35-75 %), with a
    per-note jitter; accents (+12..+30 velocity) on ~15 % of notes. Starts are kept."""
    style = style or str(rng.choice(ARTICULATIONS, p=[0.35, 0.4, 0.25]))
    out = np.array(notes, np.float64, copy=True)
    if not len(out):
        return out, style
    nxt = np.append(out[1:, 0], out[-1, 1])
    span = np.maximum(nxt - out[:, 0], out[:, 1] - out[:, 0])   # written start-to-start time
    gap_next = nxt - out[:, 1]                                  # rest after the note as written
    if style == "legato":
        ends = np.where(gap_next < 0.05, nxt + rng.uniform(0.005, 0.04, len(out)), out[:, 1])
    elif style == "plain":
        ends = out[:, 0] + (out[:, 1] - out[:, 0]) * rng.uniform(0.8, 1.0, len(out))
    else:
        ends = out[:, 0] + (out[:, 1] - out[:, 0]) * rng.uniform(0.35, 0.75, len(out))
    ends = np.minimum(ends, out[:, 0] + span + 0.04)
    out[:, 1] = np.maximum(ends, out[:, 0] + 0.03)
    if out.shape[1] > 3:
        acc = rng.random(len(out)) < 0.15
        out[acc, 3] = np.clip(out[acc, 3] + rng.integers(12, 31, int(acc.sum())), 1, 127)
    return out, style


def vibrato_curve(notes: np.ndarray, n_blocks: int, rng: np.random.Generator, amount: float = 0.7) -> np.ndarray:
    """Pitch bend (cents per block): per note (longer than 0.2 s, with probability ``amount``)
    a vibrato of 4-7 Hz and 5-40 cents that starts after a delay (60 % of notes: late, at
    20-60 % of the note), fades in over 0.1-0.3 s and out over the last 30 ms; plus a small
    per-note intonation error (+-6 cents). Where notes overlap (legato), the later one wins."""
    t = np.arange(n_blocks) / BLOCK_RATE
    out = np.zeros(n_blocks)
    for s, e, *_ in notes:
        dur = e - s
        a, b = int(s * BLOCK_RATE), min(n_blocks, int(np.ceil(e * BLOCK_RATE)))
        if b <= a:
            continue
        tt = t[a:b] - s
        curve = np.full(b - a, rng.uniform(-6.0, 6.0))
        if dur > 0.2 and rng.random() < amount:
            rate = rng.uniform(*VIBRATO_HZ)
            depth = rng.uniform(*VIBRATO_CENTS)
            delay = dur * rng.uniform(0.2, 0.6) if rng.random() < 0.6 else rng.uniform(0.0, 0.1)
            ramp = rng.uniform(0.1, 0.3)
            env = np.clip((tt - delay) / ramp, 0.0, 1.0) * np.clip((dur - tt) / 0.03, 0.0, 1.0)
            fj = rng.uniform(0.3, 1.0)          # the rate wanders by +-3 % at 0.3-1 Hz
            phase = 2 * np.pi * rate * tt + 0.03 * rate / fj * np.sin(2 * np.pi * fj * tt)
            curve += depth * env * np.sin(phase + rng.uniform(0, 2 * np.pi))
        out[a:b] = curve
    return out


def expression_curve(notes: np.ndarray, n_blocks: int, rng: np.random.Generator) -> np.ndarray:
    """CC11 per block: a slow random phrase level (0.1-0.5 Hz, +-20) around 85-120, swells on
    ~35 % of the notes longer than 0.4 s (a crescendo-diminuendo of 15-40), clipped to 30-127."""
    t = np.arange(n_blocks) / BLOCK_RATE
    base = rng.uniform(85.0, 120.0)
    level = np.full(n_blocks, base)
    for _ in range(3):
        level += rng.uniform(0.0, 20.0 / 3) * np.sin(2 * np.pi * rng.uniform(0.1, 0.5) * t + rng.uniform(0, 2 * np.pi))
    for s, e, *_ in notes:
        if e - s > 0.4 and rng.random() < 0.35:
            a, b = int(s * BLOCK_RATE), min(n_blocks, int(np.ceil(e * BLOCK_RATE)))
            x = np.linspace(0.0, 1.0, max(b - a, 1))
            peak = rng.uniform(0.3, 0.7)
            shape = np.where(x < peak, x / peak, (1.0 - x) / (1.0 - peak))
            level[a:b] += rng.uniform(15.0, 40.0) * (shape - 0.5)
    return np.clip(level, 30.0, 127.0)


def perform(notes: np.ndarray, n_samples: int, rng: np.random.Generator, vibrato: float = 0.7,
            dynamics: bool = True, articulation: str | None = None) -> Performance:
    """A bowed-string performance of a monophonic line (notes with velocity)."""
    n_blocks = -(-n_samples // BLOCK)
    played, style = articulate(notes, rng, articulation)
    bend = vibrato_curve(played, n_blocks, rng, vibrato) if vibrato > 0 else np.zeros(n_blocks)
    expr = expression_curve(played, n_blocks, rng) if dynamics else np.full(n_blocks, 127.0)
    return Performance(played, Controls(bend, expr), style)


def piano_dynamics(notes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A piano part's dynamics live in its velocities: a slow phrase curve (+-15) plus accents."""
    out = np.array(notes, np.float64, copy=True)
    if len(out) and out.shape[1] > 3:
        t = out[:, 0]
        curve = rng.uniform(0, 15) * np.sin(2 * np.pi * rng.uniform(0.05, 0.3) * t + rng.uniform(0, 2 * np.pi))
        acc = (rng.random(len(out)) < 0.1) * rng.integers(8, 25, len(out))
        out[:, 3] = np.clip(out[:, 3] + curve + acc, 20, 127)
    return out
