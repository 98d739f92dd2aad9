"""pedalboard-style processors: ``Processor`` (one streamproc task) and ``Chain`` (mixed chains).

Semantics mirror ``pedalboard.Plugin.process``: ``reset=True`` treats the call as a whole
clip (output has the same length, time-aligned, tail flushed, state cleared afterwards);
``reset=False`` streams (state carried to the next call, leading latency dropped, so over a
stream the output never has more samples than the input). Array layout follows pedalboard:
1-D is mono, 2-D has channels along its smaller dimension; the output keeps the input's
layout. Non-finite input samples are replaced by zeros (a live effect must not fall over on
one bad buffer) and counted in ``nonfinite_samples``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from .engine import Engine
from .errors import UserError
from .frame_model import FrameModel
from .tasks import build_engine, resolve, task_model

MAX_CHANNELS = 64


def to_channels_first(x: np.ndarray, channels: int | None = None) -> tuple[np.ndarray, str]:
    """Returns (channels, samples) float64 and the layout tag to restore the caller's layout.

    ``channels``: the count a stream already has; it settles a short block whose sample count
    is smaller than its channel count (e.g. the last 1-sample block of a stereo stream).
    """
    a = np.asarray(x)
    if a.dtype.kind not in "fiu":
        raise UserError(f"audio must be numeric, got dtype {a.dtype}")
    if a.ndim == 1:
        return a.astype(np.float64)[None, :], "mono"
    if a.ndim != 2:
        raise UserError(f"audio must be 1-D or 2-D, got {a.ndim}-D")
    if channels is not None and channels in a.shape and a.shape[0] != a.shape[1]:
        first = a.shape[0] == channels
    else:
        first = a.shape[0] <= a.shape[1]
    if first:
        return a.astype(np.float64), "channels_first"
    return a.T.astype(np.float64), "channels_last"


def from_channels_first(y: np.ndarray, layout: str) -> np.ndarray:
    y = y.astype(np.float32)
    if layout == "mono":
        return y[0]
    return y if layout == "channels_first" else y.T.copy()


class Processor:
    """A streamproc task as an audio effect.

    >>> import numpy as np, streamproc
    >>> fx = streamproc.Processor(task="resynth")
    >>> y = fx(np.zeros(16000, np.float32), 16000)
    >>> y.shape
    (16000,)
    """

    def __init__(self, task: str = "resynth", recon: str | None = None,
                 model: str | Path | FrameModel | None = None, profile: str = "default",
                 guide_weight: float | None = None) -> None:
        self.spec = resolve(task, recon, profile, guide_weight)
        self.task, self.recon = self.spec.task, self.spec.recon
        self._model = model
        self._frame_model()  # fail now, not at the first buffer, on a bad model path
        self._engines: list[Engine] = []
        self._rate: int | None = None
        self._started = False
        self.nonfinite_samples = 0

    # -- construction ------------------------------------------------------------------
    def _frame_model(self) -> FrameModel | None:
        self._model = task_model(self.task, self._model, self.spec.cfg)
        return self._model

    def _ensure(self, sample_rate: float, channels: int) -> None:
        rate = int(round(sample_rate))
        if rate != sample_rate or rate <= 0:
            raise UserError(f"sample rate must be a positive whole number of Hz, got {sample_rate}")
        if channels > MAX_CHANNELS:
            raise UserError(f"{channels} channels: at most {MAX_CHANNELS} are supported")
        if self._rate != rate or len(self._engines) != channels:
            model = self._frame_model()
            self._engines = [build_engine(self.spec, model, rate) for _ in range(channels)]
            self._rate = rate
            self._started = False

    def latency_for(self, sample_rate: float) -> int:
        """Latency in samples at a host rate (without allocating a processor for it)."""
        return build_engine(self.spec, self._frame_model(), int(round(sample_rate))).latency

    @property
    def latency_samples(self) -> int:
        """Latency at the rate of the last call (16 kHz before any call)."""
        if self._engines:
            return self._engines[0].latency
        return self.latency_for(self.spec.cfg.sample_rate)

    # -- pedalboard API ----------------------------------------------------------------
    def reset(self) -> None:
        for e in self._engines:
            e.reset()
        self._started = False

    def process(self, input_array: np.ndarray, sample_rate: float, buffer_size: int = 8192,
                reset: bool = True) -> np.ndarray:
        streaming = not reset and self._engines
        x, layout = to_channels_first(input_array, len(self._engines) if streaming else None)
        if not np.isfinite(np.sum(x)):  # one reduction, no mask, in the common all-finite case
            bad = ~np.isfinite(x)
            if bad.any():
                self.nonfinite_samples += int(bad.sum())
                x = np.where(bad, 0.0, x)
        self._ensure(sample_rate, x.shape[0])
        if buffer_size < 1:
            raise UserError(f"buffer_size must be >= 1, got {buffer_size}")
        if reset:
            self.reset()
            y = np.stack([e.render(ch, block=buffer_size) for e, ch in zip(self._engines, x)])
            self.reset()
        elif len(self._engines) == 1 and x.shape[1] <= buffer_size:  # a live host's block: no copies
            y = self._engines[0].push(x[0])[None]
        else:
            outs = []
            for e, ch in zip(self._engines, x):
                parts = [e.push(ch[i:i + buffer_size]) for i in range(0, len(ch), buffer_size)]
                outs.append(np.concatenate(parts) if parts else np.zeros(0))
            y = np.stack(outs)
        return from_channels_first(y, layout)

    __call__ = process

    def __repr__(self) -> str:
        return f"streamproc.Processor(task={self.task!r}, recon={self.recon!r})"


class Chain:
    """Runs pedalboard plugins and streamproc processors in sequence.

    pedalboard's own containers only hold native plugins, so this does the sequencing and the
    latency bookkeeping: ``latency_for(rate)`` is the sum of the members' latencies.
    """

    def __init__(self, plugins: Sequence) -> None:
        self.plugins = list(plugins)

    def latency_for(self, sample_rate: float) -> int:
        total = 0
        for p in self.plugins:
            if isinstance(p, (Processor, Chain)):
                total += p.latency_for(sample_rate)
            else:
                total += int(getattr(p, "reported_latency_samples", 0) or 0)
        return total

    def reset(self) -> None:
        for p in self.plugins:
            p.reset()

    def process(self, input_array: np.ndarray, sample_rate: float, buffer_size: int = 8192,
                reset: bool = True) -> np.ndarray:
        y = np.asarray(input_array, dtype=np.float32)
        for p in self.plugins:
            y = p.process(y, sample_rate, buffer_size=buffer_size, reset=reset)
        return y

    __call__ = process
