"""The unit that flows between frame stages: a batch of consecutive STFT frames and what is known about them."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace

import numpy as np


@dataclass
class Frames:
    """Consecutive frames; every field present has the same first dimension.

    stft: complex spectrum (n, bins): the analysis of the input, until a reconstruction
        stage replaces it with the spectrum to synthesise.
    features: the image column the model works on (n, rows): normalised log-mel, then
        the model's translation of it.
    input_features: the untranslated features (for masks that compare before and after).
    magnitude: linear magnitude to reconstruct (n, bins).
    """
    stft: np.ndarray
    features: np.ndarray | None = None
    input_features: np.ndarray | None = None
    magnitude: np.ndarray | None = None

    def __len__(self) -> int:
        return self.stft.shape[0]

    def slice(self, start: int, stop: int) -> "Frames":
        return Frames(**{f.name: (None if getattr(self, f.name) is None else getattr(self, f.name)[start:stop])
                         for f in fields(self)})

    def with_(self, **changes) -> "Frames":
        return replace(self, **changes)

    @staticmethod
    def concat(parts: list["Frames"]) -> "Frames":
        parts = [p for p in parts if p is not None]
        if len(parts) == 1:
            return parts[0]
        out = {}
        for f in fields(Frames):
            vals = [getattr(p, f.name) for p in parts]
            out[f.name] = None if any(v is None for v in vals) else np.concatenate(vals)
        return Frames(**out)

    @staticmethod
    def empty(n_bins: int) -> "Frames":
        return Frames(stft=np.zeros((0, n_bins), np.complex128))
