"""Spectral analysis settings shared by the runtime, data rendering and training.

Everything that must agree between training and inference lives here; ONNX models carry
the same values in their metadata, and the runtime refuses a model whose values differ.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass


SAMPLE_RATE = 16000  # the model rate: every model, data set and engine core runs at it


@dataclass(frozen=True)
class SpectralConfig:
    sample_rate: int = SAMPLE_RATE
    n_fft: int = 1024
    hop: int = 256
    n_mels: int = 128
    fmin: float = 0.0
    fmax: float = 8000.0
    # log-mel normalisation: dB (amplitude) range mapped linearly onto [-1, 1]
    db_floor: float = -100.0
    db_ceil: float = 20.0

    def __post_init__(self) -> None:
        if self.n_fft % self.hop:
            raise ValueError("n_fft must be a multiple of hop")

    @property
    def n_bins(self) -> int:
        return self.n_fft // 2 + 1

    def as_dict(self) -> dict:
        return asdict(self)


DEFAULT = SpectralConfig()
