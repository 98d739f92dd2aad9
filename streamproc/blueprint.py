"""Melodies to "harmonic blueprints", the input of the ``synth`` task.

A blueprint is a sine fundamental plus a few harmonics per note; the synth model restyles it
as a violin. The training-data renderer (``models.render``) and ``streamproc synth`` share
:func:`harmonic_blueprint`, so the runtime feeds the model exactly the kind of signal it was
trained on. :func:`melody_from_midi` reduces a MIDI file to the monophonic melody the model
expects.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from .config import SAMPLE_RATE  # noqa: F401 (the blueprint's rate: the model rate)
from .errors import UserError
MIDI_EXTENSIONS = (".mid", ".midi")
MIN_SEGMENT_S = 0.03  # skyline fragments shorter than this (staggered chord onsets) are dropped
DRUM_CHANNEL = 9      # General MIDI channel 10, counted from 0 (what pretty_midi calls is_drum)


def harmonic_blueprint(notes: np.ndarray, n_samples: int, n_harmonics: int, rolloff: float,
                       rng: np.random.Generator | None = None, sample_rate: int = SAMPLE_RATE,
                       start: int = 0, stop: int | None = None) -> np.ndarray:
    """Sine fundamental plus harmonics 2..n_harmonics (amplitude rolloff**(h-1), jittered per
    harmonic by ``rng`` in training; ``rng=None``: no jitter), 10 ms fades, level from velocity.

    ``notes``: rows (start_s, end_s, midi_pitch, velocity). Float32 of ``n_samples``, or only
    samples ``start:stop`` of it (the same values: long melodies are made window by window).
    """
    stop = n_samples if stop is None else min(stop, n_samples)
    out = np.zeros(max(0, stop - start), dtype=np.float64)
    jitter = rng.uniform(0.7, 1.0, n_harmonics) if rng is not None else np.ones(n_harmonics)
    amps = rolloff ** np.arange(n_harmonics) * jitter
    amps[0] = 1.0
    amps /= amps.sum()
    fade = int(0.01 * sample_rate)
    for s, e, m, v in notes:
        a, b = int(s * sample_rate), min(int(e * sample_rate), n_samples)
        lo, hi = max(a, start), min(b, stop)
        if b - a < 2 or lo >= hi:
            continue
        idx = np.arange(lo - a, hi - a)  # sample positions within the note
        t = idx / sample_rate
        f0 = 440.0 * 2.0 ** ((m - 69) / 12)
        tone = np.zeros(hi - lo)
        for h in range(n_harmonics):
            if (h + 1) * f0 < sample_rate / 2:
                tone += amps[h] * np.sin(2 * np.pi * (h + 1) * f0 * t)
        env = np.ones(hi - lo)
        k = min(fade, (b - a) // 2)
        head, tail = idx < k, idx >= (b - a) - k
        env[head] = np.linspace(0, 1, k)[idx[head]]
        env[tail] = np.linspace(1, 0, k)[idx[tail] - ((b - a) - k)]
        out[lo - start:hi - start] += tone * env * (v / 127.0) * 0.3
    return out.astype(np.float32)


def skyline(notes: np.ndarray, min_segment: float = MIN_SEGMENT_S) -> np.ndarray:
    """Polyphonic notes -> monophonic: wherever notes overlap, the highest sounding one wins
    (a lower note still held resumes when the higher one ends). Rows (start, end, pitch, vel)."""
    notes = np.asarray(notes, dtype=np.float64).reshape(-1, 4)
    bounds = np.unique(notes[:, :2])
    segs: list[list[float]] = []
    last = -1
    for t0, t1 in zip(bounds[:-1], bounds[1:]):
        active = np.flatnonzero((notes[:, 0] <= t0) & (notes[:, 1] > t0))
        if len(active) == 0:
            last = -1
            continue
        # highest pitch; among equal pitches the latest onset (a re-struck note)
        win = int(active[np.lexsort((notes[active, 0], notes[active, 2]))[-1]])
        if win == last and segs:
            segs[-1][1] = float(t1)
        else:
            segs.append([float(t0), float(t1), notes[win, 2], notes[win, 3]])
        last = win
    out = np.array([s for s in segs if s[1] - s[0] >= min_segment], dtype=np.float64).reshape(-1, 4)
    return out


def notes_left_on(path: Path) -> tuple[list[tuple[float, int, int]], float]:
    """Non-drum notes switched on and never off, as (start_s, pitch, velocity), and the file's
    length in seconds (its last event, end of track included). pretty_midi drops such notes;
    a note-off (or a note-on of velocity 0) ends every open note of its channel and pitch, as there."""
    import mido

    open_notes: dict[tuple[int, int], list[tuple[float, int]]] = {}
    t = 0.0
    for msg in mido.MidiFile(str(path)):  # the tracks merged, times in seconds
        t += msg.time
        if msg.type not in ("note_on", "note_off") or msg.channel == DRUM_CHANNEL:
            continue
        if msg.type == "note_on" and msg.velocity > 0:
            open_notes.setdefault((msg.channel, msg.note), []).append((t, msg.velocity))
        else:
            open_notes.pop((msg.channel, msg.note), None)
    return sorted((s, note, v) for (_, note), starts in open_notes.items() for s, v in starts), t


def melody_from_midi(path: str | Path, notice: Callable[[str], None] | None = None) -> np.ndarray:
    """The melody of a MIDI file: rows (start_s, end_s, midi_pitch, velocity), sorted by start.

    Non-drum instruments only, reduced to one voice by :func:`skyline`. A note switched on and
    never off sounds until the end of the file, as a MIDI player holds it (``notice`` is told).
    UserError (one line) for a missing, non-MIDI or corrupt file and for one without pitched notes.
    """
    from .audio_io import check_input_path

    p = check_input_path(path, MIDI_EXTENSIONS, kind="MIDI")
    import pretty_midi

    try:
        with warnings.catch_warnings():  # pretty_midi warns about odd but usable meta events
            warnings.simplefilter("ignore")
            pm = pretty_midi.PrettyMIDI(str(p))
            left_on, end_s = notes_left_on(p)
    except Exception as exc:  # noqa: BLE001  (mido raises OSError, EOFError, KeyError, ValueError, ...)
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise UserError(f"cannot read {p} as MIDI: {reason[:160]}") from None
    rows = [(n.start, n.end, n.pitch, n.velocity)
            for inst in pm.instruments if not inst.is_drum for n in inst.notes if n.end > n.start]
    held = [(start, end_s, pitch, vel) for start, pitch, vel in left_on if end_s > start]
    names = ", ".join(f"{pretty_midi.note_number_to_name(n)} at {s:.2f} s" for s, n, _ in left_on[:3])
    if left_on and not rows and not held:
        raise UserError(f"{p} has a note-on ({names}) without a note-off and nothing after it: "
                        f"no note has a length, nothing to synthesise")
    if held and notice is not None:
        many = len(held) > 1
        notice(f"{len(held)} note{'s' if many else ''} without a note-off ({names}{', ...' if len(held) > 3 else ''}) "
               f"end{'' if many else 's'} at the end of the file ({end_s:.2f} s)")
    rows += held
    if not rows:
        drums = any(inst.is_drum and inst.notes for inst in pm.instruments)
        raise UserError(f"{p} has no pitched notes{' (only drums)' if drums else ''}: nothing to synthesise")
    melody = skyline(np.array(rows, dtype=np.float64))
    if len(melody) == 0:
        raise UserError(f"{p} has no note longer than {MIN_SEGMENT_S * 1000:g} ms: nothing to synthesise")
    return melody
