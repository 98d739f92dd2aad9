"""The one door audio comes in by: ``Processor.process``, ``Processor.process_block`` and the live
worker all pass their buffers through :class:`InputAdapter`, so they refuse and repair the same
things (pedalboard's rules: floating point only, any empty shape is fine, non-finite samples
become zeros and are counted rather than poisoning every later block of a stream).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .audio_io import MAX_CHANNELS, MAX_RATE, MIN_RATE
from .errors import AudioShapeError, AudioTypeError, SampleRateError, UserError

CHANNELS_FIRST, CHANNELS_LAST, MONO = "channels_first", "channels_last", "mono"


def check_sample_rate(sample_rate: float) -> int:
    """A host rate as a whole number of Hz within 4-192 kHz, or a :class:`SampleRateError`."""
    try:
        rate = float(sample_rate)
    except (TypeError, ValueError):
        raise SampleRateError(f"sample rate must be a number of Hz, got {sample_rate!r}") from None
    if not math.isfinite(rate) or rate <= 0:
        raise SampleRateError(f"sample rate must be a positive, finite number of Hz, got {sample_rate}")
    if rate != int(rate) or not MIN_RATE <= rate <= MAX_RATE:
        raise SampleRateError(f"sample rate must be a whole number of Hz within {MIN_RATE}-{MAX_RATE}, "
                              f"got {sample_rate}")
    return int(rate)


def check_channels(channels: int) -> int:
    if not 1 <= channels <= MAX_CHANNELS:
        raise UserError(f"{channels} channels: 1 to {MAX_CHANNELS} are supported")
    return int(channels)


@dataclass(frozen=True)
class Buffer:
    """A caller's buffer as the engines want it: (channels, samples) float64, all finite."""
    data: np.ndarray
    layout: str
    shape: tuple[int, ...]

    @property
    def empty(self) -> bool:
        return self.data.size == 0

    def restore(self, y: np.ndarray) -> np.ndarray:
        """(channels, n) engine output back in the caller's layout, float32."""
        y = np.asarray(y, np.float32)
        if self.layout == MONO:
            return y[0]
        return y if self.layout == CHANNELS_FIRST else y.T.copy()


class InputAdapter:
    """Checks and converts buffers; counts the non-finite samples it zeroed in ``nonfinite_samples``."""

    def __init__(self) -> None:
        self.nonfinite_samples = 0

    def adapt(self, x: np.ndarray, channels: int | None = None, layout: str | None = None) -> Buffer:
        """``channels``: the count a stream already has; it settles a short block whose sample
        count is smaller than its channel count. ``layout``: a host that knows it (live, JUCE-style
        ``process_block``) says so, and nothing is guessed.
        """
        a = np.asarray(x)
        if a.dtype.kind != "f":
            raise AudioTypeError(f"audio must be floating point (float32 or float64), got dtype {a.dtype}")
        if a.ndim not in (1, 2):
            raise AudioShapeError(f"audio must be 1-D (mono) or 2-D (channels x samples), got {a.ndim}-D "
                                 f"with shape {a.shape}")
        if a.ndim == 1:
            layout = MONO
        elif layout is None:
            if channels is not None and channels in a.shape and a.shape[0] != a.shape[1]:
                first = a.shape[0] == channels
            else:
                first = a.shape[0] <= a.shape[1]
            layout = CHANNELS_FIRST if first else CHANNELS_LAST
        if layout == MONO:
            data = a.astype(np.float64)[None, :]
        elif layout == CHANNELS_FIRST:
            data = a.astype(np.float64)
        else:
            data = a.T.astype(np.float64)
        # a mask and one reduction: at a live host's 64 samples this costs a third of a
        # warning-silenced sum (np.errstate is a context manager entered every block)
        finite = np.isfinite(data)
        if not finite.all():
            bad = ~finite
            self.nonfinite_samples += int(bad.sum())
            data[bad] = 0.0
        return Buffer(data, layout, a.shape)
