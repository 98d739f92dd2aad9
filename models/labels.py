"""Pitch labels taken from the rendered audio rather than from the score's note times.

A bowed patch takes tens of milliseconds to speak and a release goes on sounding after the
note-off, so a label that starts and stops with the MIDI note claims pitch before there is
any and silence while the note still sounds. Here a monophonic line is rendered as a few
*stems* (notes far enough apart in time share one, so every note's sound is alone in its
stem), the stems add up to the audio (FluidSynth voices sum), and a frame is voiced while a
note's own stem is within ``VOICED_DB`` of that note's peak level (and above the clip's
silence floor). Where two notes are audible at once (a release under the next attack), the
louder one is the label. The f0 follows the pitch-bend curve of the performance (vibrato,
detune), continuous, not note-quantised.
"""
from __future__ import annotations

import numpy as np

STEM_GAP_S = 0.6       # notes in one stem start at least this long after the previous one ends
VOICED_DB = 24.0       # audible: within this many dB of the note's own peak level
FLOOR_DB = 60.0        # ... and within this many dB of the loudest note of the clip
LEVEL_WINDOW = 512     # samples of the level measurement around each frame centre (32 ms)


def assign_stems(notes: np.ndarray, gap: float = STEM_GAP_S) -> np.ndarray:
    """Stem index per note (greedy, in start order): a note goes to the first stem whose last
    note ended at least ``gap`` seconds before it starts."""
    order = np.argsort(notes[:, 0], kind="stable")
    ends: list[float] = []
    stem = np.zeros(len(notes), int)
    for i in order:
        s, e = notes[i, 0], notes[i, 1]
        for k, last in enumerate(ends):
            if s >= last + gap:
                stem[i], ends[k] = k, e
                break
        else:
            stem[i] = len(ends)
            ends.append(e)
    return stem


def frame_levels_db(x: np.ndarray, centres: np.ndarray, window: int = LEVEL_WINDOW) -> np.ndarray:
    """RMS level (dB) of x in a window of ``window`` samples centred on each sample index."""
    c = np.concatenate([[0.0], np.cumsum(np.asarray(x, np.float64) ** 2)])
    a = np.clip(centres - window // 2, 0, len(x))
    b = np.clip(centres + window // 2, 0, len(x))
    energy = (c[b] - c[a]) / window
    return 10.0 * np.log10(np.maximum(energy, 1e-20))


def audible_note(notes: np.ndarray, stems: list[np.ndarray], stem_of: np.ndarray, centres: np.ndarray,
                 voiced_db: float = VOICED_DB, floor_db: float = FLOOR_DB, sample_rate: int = 16000) -> np.ndarray:
    """Per frame centre (sample index at ``sample_rate``), the index of the note heard there,
    -1 where none is.

    Note j owns its stem from its start until the next note of the same stem starts; it is
    audible where that stem's level is within ``voiced_db`` of its own peak inside that span
    and within ``floor_db`` of the loudest note's peak."""
    levels = [frame_levels_db(s, centres) for s in stems]
    t = np.asarray(centres, np.float64) / sample_rate  # note times are in seconds
    sr_starts = {}
    n = len(notes)
    level = np.full((n, len(centres)), -np.inf)
    peaks = np.full(n, -np.inf)
    for k in range(len(stems)):
        idx = np.where(stem_of == k)[0]
        idx = idx[np.argsort(notes[idx, 0])]
        for a, j in enumerate(idx):
            start = notes[j, 0]
            stop = notes[idx[a + 1], 0] if a + 1 < len(idx) else np.inf
            sr_starts[j] = (start, stop)
    for j in range(n):
        start, stop = sr_starts[j]
        k = stem_of[j]
        own = (t >= start) & (t < stop)
        if own.any():
            level[j, own] = levels[k][own]
            peaks[j] = level[j, own].max()
    if not n or not np.isfinite(peaks).any():
        return np.full(len(centres), -1, int)
    loud = np.max(peaks[np.isfinite(peaks)])
    ok = (level >= (peaks[:, None] - voiced_db)) & (level >= loud - floor_db)
    score = np.where(ok, level, -np.inf)
    best = np.argmax(score, axis=0)
    return np.where(np.isfinite(score[best, np.arange(len(centres))]), best, -1)


def f0_midi(note_idx: np.ndarray, notes: np.ndarray, times: np.ndarray, bend_at) -> np.ndarray:
    """Sounding pitch (fractional MIDI) per frame, NaN where unvoiced; ``bend_at(times,
    midi)`` adds the performance's pitch-bend curve (``Performance.pitch_at``)."""
    out = np.full(len(note_idx), np.nan)
    v = note_idx >= 0
    if v.any():
        out[v] = bend_at(times[v], notes[note_idx[v], 2])
    return out


def midi_to_hz(m: np.ndarray) -> np.ndarray:
    return np.where(np.isfinite(m), 440.0 * 2.0 ** ((np.nan_to_num(m) - 69.0) / 12.0), 0.0)
