"""The contract between the engine's chunker and whatever translates spectrogram images.

A frame model maps a window of ``context + new + lookahead`` feature frames (an image of
shape (n_features, window)) to an output image of the same width. The chunker feeds it
windows that advance by ``new`` frames and keeps the output columns it trusts (a model may
offer ``run_columns`` to compute only those: :func:`run_columns`). The identity
model stands in until trained models exist; the ONNX runner implements the same protocol.
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class FrameModel(Protocol):
    context_frames: int    # past frames the model sees before the new ones
    new_frames: int        # frames each run advances by (the chunker's hop)
    lookahead_frames: int  # future frames the model sees after the new ones
    n_inputs: int          # rows of the input image (n_mels)
    n_outputs: int         # rows of the output image (n_mels, or pitch bins)

    def run(self, window: np.ndarray) -> np.ndarray:
        """float32 (n_inputs, window) -> float32 (n_outputs, window)."""
        ...


def prepare_columns(model: FrameModel, start: int, stop: int) -> None:
    """Readies ``model`` for :func:`run_columns` with these columns (a model that can compute
    only some of its output columns builds that graph now, not in the audio path)."""
    prepare = getattr(model, "prepare_columns", None)
    if prepare is not None:
        prepare(start, stop)


def run_columns(model: FrameModel, window: np.ndarray, start: int, stop: int) -> np.ndarray:
    """Output columns [start, stop) of ``model.run(window)``: float32 (n_outputs, stop - start).
    A model that offers ``run_columns`` computes only those (``OnnxFrameModel``); any other
    runs whole and is sliced."""
    own = getattr(model, "run_columns", None)
    if own is not None:
        return np.asarray(own(window, start, stop), dtype=np.float32)
    return np.asarray(model.run(window), dtype=np.float32)[:, start:stop]


def target_shift_frames(model: object) -> int:
    """How many frames later than its input frame each output column describes (a model trained
    with ``models.train --target-shift``; ``ModelMetadata.target_shift_frames``). Models that do
    not say are aligned with their input: 0."""
    return int(getattr(model, "target_shift_frames", 0) or 0)


class IdentityModel:
    """Returns its input: the engine's path with no translation (task ``resynth``)."""

    def __init__(self, n_features: int, context_frames: int = 0, new_frames: int = 1,
                 lookahead_frames: int = 0) -> None:
        self.n_inputs = self.n_outputs = n_features
        self.context_frames = context_frames
        self.new_frames = new_frames
        self.lookahead_frames = lookahead_frames

    def run(self, window: np.ndarray) -> np.ndarray:
        return np.array(window, dtype=np.float32, copy=True)
