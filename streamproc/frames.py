"""The unit that flows between frame stages: a batch of consecutive STFT frames and what is known about them.

Each stage declares the fields it ``reads`` and ``writes`` (names of :class:`Frames` fields);
``streamproc.engine.Core`` checks once, at construction, that every field a stage reads was
written before it (:func:`check_chain`), so a stage may take what it declared with
:meth:`Frames.get`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any, Iterable

import numpy as np


@dataclass
class Frames:
    """Consecutive frames; every field present has the same first dimension.

    stft: complex spectrum (n, bins): the analysis of the input, until a reconstruction
        stage replaces it with the spectrum to synthesise.
    features: the image column the model works on (n, rows): normalised log-mel, then
        the model's translation of it (a mel image, or a pitch map for the pitch task).
    input_features: the untranslated features (for masks that compare before and after).
    magnitude: linear magnitude to reconstruct (n, bins).
    pitch: the decoded pitch (n, 2): MIDI pitch and voiced (1.0 or 0.0) per frame.
    gain_db: the gain the images were taken at (n,), where the engine follows the input's level
        (``level.LevelFollower``). Optional: no stage declares it; those that turn images into
        magnitudes take it back out where it is present (``stages.at_input_level``).
    """
    stft: np.ndarray
    features: np.ndarray | None = None
    input_features: np.ndarray | None = None
    magnitude: np.ndarray | None = None
    pitch: np.ndarray | None = None
    gain_db: np.ndarray | None = None

    def __len__(self) -> int:
        return self.stft.shape[0]

    def get(self, name: str) -> np.ndarray:
        """A field the calling stage declared in ``reads`` (so the chain provides it)."""
        value = getattr(self, name)
        if value is None:
            raise FrameContractError(f"frames carry no {name!r}: a stage reads it without declaring it")
        return value

    def slice(self, start: int, stop: int) -> "Frames":
        cut: dict[str, Any] = {f.name: (None if getattr(self, f.name) is None else getattr(self, f.name)[start:stop])
                               for f in fields(self)}
        return replace(self, **cut)

    def with_(self, **changes: Any) -> "Frames":
        return replace(self, **changes)

    @staticmethod
    def concat(parts: list["Frames"]) -> "Frames":
        parts = [p for p in parts if p is not None]
        if len(parts) == 1:
            return parts[0]
        out: dict[str, Any] = {}
        for f in fields(Frames):
            vals = [getattr(p, f.name) for p in parts]
            out[f.name] = None if any(v is None for v in vals) else np.concatenate(vals)
        return replace(parts[0], **out)

    @staticmethod
    def empty(n_bins: int) -> "Frames":
        return Frames(stft=np.zeros((0, n_bins), np.complex128))


FIELDS = tuple(f.name for f in fields(Frames))


class FrameContractError(ValueError):
    """A chain of stages in which a stage reads a field that nothing before it writes."""


def _name(stage: object) -> str:
    return type(stage).__name__


def check_chain(framer: object, stages: Iterable[object], synth: object) -> None:
    """Raises FrameContractError (one line, naming the stage and the field) unless every field
    each stage (and the synthesiser) reads is written by the framer or a stage before it."""
    chain = [framer, *stages, synth]
    names = " -> ".join(_name(s) for s in chain)
    have: set[str] = set()
    for stage in chain:
        reads, writes = getattr(stage, "reads", None), getattr(stage, "writes", ())
        if reads is None:
            raise FrameContractError(f"{_name(stage)} declares no 'reads' (the Frames fields it needs); "
                                     f"chain: {names}")
        unknown = [f for f in (*reads, *writes) if f not in FIELDS]
        if unknown:
            raise FrameContractError(f"{_name(stage)} names {', '.join(map(repr, unknown))}, which is no "
                                     f"Frames field ({', '.join(FIELDS)})")
        missing = [f for f in reads if f not in have]
        if missing:
            raise FrameContractError(f"{_name(stage)} reads {', '.join(map(repr, missing))}, which no stage "
                                     f"before it writes; chain: {names}")
        have.update(writes)


# ----------------------------------------------------------------------------- latency of a chain

@dataclass(frozen=True)
class FrameSchedule:
    """When a frame stage hands its frames on: in batches of ``batch`` frames, each batch once
    ``wait`` frames beyond it have arrived. After n input frames (in any batches) it has output
    ``emitted(n) = batch * floor((n - wait) / batch)`` frames (none while n < wait).

    A ``Chunker`` is (new frames, lookahead), ``GriffinLim`` (1, lookahead), a framewise stage
    (1, 0). The stage's own worst case, ``latency_frames``, is ``batch - 1 + wait`` (its first
    frame of each batch waits for the rest of the batch and the lookahead)."""
    batch: int
    wait: int

    def __post_init__(self) -> None:
        if self.batch < 1 or self.wait < 0:
            raise ValueError(f"a frame schedule needs batch >= 1 and wait >= 0, not {self.batch}, {self.wait}")

    @property
    def latency_frames(self) -> int:
        return self.batch - 1 + self.wait

    def emitted(self, n_in: int) -> int:
        return self.batch * max(0, (n_in - self.wait) // self.batch)


def schedule_of(stage: object) -> FrameSchedule:
    """A stage's ``schedule`` if it declares one; otherwise its own worst case as a pure delay,
    ``FrameSchedule(1, latency_frames)``: every frame is assumed to wait that long, which bounds
    the chain's latency from above (never under it) and is exact for a stage that delays evenly."""
    schedule = getattr(stage, "schedule", None)
    if schedule is not None:
        return schedule
    return FrameSchedule(1, int(getattr(stage, "latency_frames")))


def chain_latency_frames(schedules: Iterable[FrameSchedule]) -> int:
    """The exact worst case of frame stages in series: the most later frames any frame waits
    for, from the framer's output to the last stage's.

    Summing the stages' worst cases over-declares when batches line up (a model chunked by 2
    feeding a net chunked by 2 hands it whole pairs, so the net never waits), so the chain is
    simulated instead: frame k leaves once the first stage has seen ``first(k)`` frames, the
    smallest n with ``E(n) > k`` for the composed ``E = e_last(...e_1(n))``. Every ``emitted``
    is periodic, ``e(n + batch) = e(n) + batch`` once n >= wait, so E is periodic with period
    P = lcm of the batches once n >= the sum of (batch + wait); checking every frame up to that
    transient plus one period covers all frames."""
    schedules = list(schedules)
    period = math.lcm(*(s.batch for s in schedules)) if schedules else 1
    horizon = sum(s.batch + s.wait for s in schedules) + period

    def composed(n: int) -> int:
        for s in schedules:
            n = s.emitted(n)
        return n

    worst, n, out = 0, 0, 0
    for k in range(horizon):
        while out <= k:  # E is monotone: advance n until frame k has left
            n += 1
            out = composed(n)
        worst = max(worst, n - (k + 1))
    return worst
