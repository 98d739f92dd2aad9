"""Violin + piano duets in which the violin may play any voice of a work.

A model trained only on duets whose violin is the top line learns "keep the highest line"
rather than "keep the violin". Here the violin takes the top, an inner or the bottom voice:

- a work with separate parts (Bach): the violin plays one part, the piano all the others,
  the whole arrangement moved by octaves so the violin's part lies in the instrument's range;
- a lone tune with a generated harmony (Ryan's Mammoth Collection): the violin plays the tune
  and the piano's chords are voiced below it (``top``), around it (``inner``: chord tones
  both below and above the tune) or above it with no bass under it (``bottom``).

Sometimes the piano doubles the violin's line in unison or an octave away.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .render import PROGRAM_RANGE, Work

ROLES = ("top", "inner", "bottom")
ROLE_WEIGHTS = (0.4, 0.35, 0.25)
PIANO_RANGE = (28, 103)
DOUBLING = 0.2


@dataclass
class Duet:
    violin: np.ndarray   # (n, 3) start_ql, end_ql, midi (monophonic)
    piano: np.ndarray    # (m, 3)
    role: str            # the violin's voice, as arranged
    doubling: int | None  # semitones of the piano's doubling of the violin line (None: none)


def octave_offset(notes: np.ndarray, lo: int, hi: int) -> int:
    """Semitones (a multiple of 12) that move ``notes`` into [lo, hi] as far as possible."""
    if not len(notes):
        return 0
    off = 0
    while notes[:, 2].min() + off < lo and notes[:, 2].max() + off + 12 <= hi:
        off += 12
    while notes[:, 2].max() + off > hi and notes[:, 2].min() + off - 12 >= lo:
        off -= 12
    return off


def _into_range(notes: np.ndarray, lo: int, hi: int) -> np.ndarray:
    out = notes.copy()
    if len(out):
        while (out[:, 2] < lo).any():
            out[out[:, 2] < lo, 2] += 12
        while (out[:, 2] > hi).any():
            out[out[:, 2] > hi, 2] -= 12
    return out


def _place(pc: int, lo: float) -> int:
    """The lowest pitch of pitch class ``pc`` at or above ``lo``."""
    p = int(np.ceil(lo))
    return p + (pc - p) % 12


def voice_chords(chords: np.ndarray, tune: np.ndarray, role: str) -> np.ndarray:
    """Piano notes (start, end, midi) of generated chords, voiced against the tune for ``role``."""
    rows = []
    for t0, t1, root, *pcs in chords:
        sel = tune[(tune[:, 0] < t1) & (tune[:, 1] > t0)]
        if not len(sel):
            continue
        lo, hi, mid = sel[:, 2].min(), sel[:, 2].max(), float(np.median(sel[:, 2]))
        pcs = [int(p) for p in pcs]
        if role == "top":
            bass = _place(int(root), 36)
            rows.append((t0, t1, bass))
            top = lo - 1
            rows += [(t0, t1, _place(p, top - 12)) for p in pcs]
        elif role == "inner":
            rows.append((t0, t1, _place(int(root), 36)))
            rows += [(t0, t1, _place(p, mid - 12)) for p in pcs]          # an octave below the tune's middle
            rows += [(t0, t1, _place(p, hi + 1)) for p in pcs[:2]]         # and above its top
        else:
            rows += [(t0, t1, _place(p, hi + 1)) for p in pcs]
            rows.append((t0, t1, _place(int(root), hi + 1) + 12))
    return np.array(rows, np.float64).reshape(-1, 3)


def arrange(work: Work, role: str, program: int, rng: np.random.Generator, shift: int = 0) -> Duet:
    """The duet of ``work`` (transposed by ``shift`` semitones) with the violin (``program``) on
    ``role``; times in quarter notes."""
    lo, hi = PROGRAM_RANGE.get(program, (55, 100))
    voices = list(work.voices) or [work.melody]
    if len(voices) >= 2:
        if role == "inner" and len(voices) < 3:
            role = "top" if rng.random() < 0.5 else "bottom"
        k = {"top": 0, "bottom": len(voices) - 1}.get(role)
        if k is None:
            k = int(rng.integers(1, len(voices) - 1))
        violin = voices[k]
        piano = np.concatenate([v for i, v in enumerate(voices) if i != k])
    else:
        violin = work.melody
        piano = voice_chords(work.chords, work.melody, role) if work.chords is not None and len(work.chords) \
            else work.accomp
    off = octave_offset(violin + [0, 0, shift], lo, hi) + shift
    violin = violin + [0, 0, off]
    piano = _into_range(piano + [0, 0, off], *PIANO_RANGE)
    doubling = None
    if rng.random() < DOUBLING:
        doubling = int(rng.choice([0, 12, -12]))
        dbl = _into_range(violin + [0, 0, doubling], *PIANO_RANGE)
        piano = np.concatenate([piano, dbl])
    if len(piano):
        piano = piano[np.lexsort((piano[:, 2], piano[:, 0]))]
    return Duet(violin, piano, role, doubling)


def draw_role(rng: np.random.Generator) -> str:
    return str(rng.choice(ROLES, p=ROLE_WEIGHTS))


def voice_position(violin: np.ndarray, piano: np.ndarray) -> dict:
    """Share of the violin's sounding time with piano notes above / below it (how inner it is)."""
    above = below = total = 0.0
    for s, e, m in violin[:, :3]:
        ov = piano[(piano[:, 0] < e) & (piano[:, 1] > s)] if len(piano) else piano
        d = e - s
        total += d
        if len(ov):
            above += d * float((ov[:, 2] > m).any())
            below += d * float((ov[:, 2] < m).any())
    total = max(total, 1e-9)
    return {"piano_above": round(above / total, 3), "piano_below": round(below / total, 3)}
