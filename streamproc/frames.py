"""The unit that flows between frame stages: a batch of consecutive STFT frames and what is known about them.

Each stage declares the fields it ``reads`` and ``writes`` (names of :class:`Frames` fields);
``streamproc.engine.Core`` checks once, at construction, that every field a stage reads was
written before it (:func:`check_chain`), so a stage may take what it declared with
:meth:`Frames.get`.
"""
from __future__ import annotations

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
    """
    stft: np.ndarray
    features: np.ndarray | None = None
    input_features: np.ndarray | None = None
    magnitude: np.ndarray | None = None
    pitch: np.ndarray | None = None

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
