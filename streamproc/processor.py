"""pedalboard-style processors: ``Processor`` (one streamproc task) and ``Chain`` (mixed chains).

Semantics mirror ``pedalboard.Plugin.process``: ``reset=True`` treats the call as a whole
clip (output has the same length, time-aligned, tail flushed, state cleared afterwards);
``reset=False`` streams (state carried to the next call, leading latency dropped, so over a
stream the output never has more samples than the input). Array layout follows pedalboard:
1-D is mono, 2-D has channels along its smaller dimension; the output keeps the input's
layout. What comes in is checked and repaired by :class:`streamproc.adapter.InputAdapter`
(floating point only, empty arrays pass, non-finite samples zeroed and counted).

The lifecycle is JUCE's: ``prepare`` builds the engines before audio starts, ``process_block``
is a host's per-block call, ``reset`` clears state; ``process`` prepares by itself when the
rate or channel count changes, so pedalboard-style use needs none of it.
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Sequence

import numpy as np

from .adapter import CHANNELS_FIRST, InputAdapter, check_channels, check_sample_rate
from .engine import Engine
from .errors import AudioShapeError, UserError
from .frame_model import FrameModel
from .level import LEVELS, streaming_level
from .tasks import RESTORE_MODEL, build_engine, resolve, task_model

DEFAULT_BLOCK = 8192  # pedalboard's default buffer_size


class Processor:
    """A streamproc task as an audio effect.

    Calls from several threads are serialised by a lock (one engine state cannot serve two
    streams at once; interleaving them would give wrong audio, not an error).

    >>> import numpy as np, streamproc
    >>> fx = streamproc.Processor(task="resynth")
    >>> y = fx(np.zeros(16000, np.float32), 16000)        # a whole clip: same length, aligned
    >>> y.shape, y.dtype
    ((16000,), dtype('float32'))
    >>> fx.prepare(48000, max_block_size=256, channels=2)  # a host, before audio starts
    >>> blocks = [fx.process_block(np.zeros((2, 256), np.float32)) for _ in range(100)]
    >>> sum(b.shape[1] for b in blocks) == 100 * 256 - fx.latency_samples
    True
    >>> fx.process(np.zeros(16, np.int16), 48000)
    Traceback (most recent call last):
    ...
    streamproc.errors.AudioTypeError: audio must be floating point (float32 or float64), got dtype int16
    """

    def __init__(self, task: str = "resynth", recon: str | None = None,
                 model: str | Path | FrameModel | None = None, profile: str = "default",
                 guide_weight: float | None = None,
                 restore_model: str | Path | FrameModel | None = None, level: str | None = None) -> None:
        """``model``: the task model (a loaded one or an ONNX file; None: the shipped one).
        ``restore_model``: likewise the restoration net that ``recon="restore"`` runs.
        ``level``: "auto" lets the models' images follow the input's level (its DC offset removed,
        its loudness over the last 10 s brought to the models'; the output keeps the input's
        level: ``streamproc.level.LevelFollower``); "off" gives them the samples as they are.
        None: the profile's default for the task (``Profile.level_tasks``: auto for pitch and
        superres, and in ``live`` for pitch only; off for separate, whose mask does slightly
        better on well-levelled input as it is)."""
        if level is not None and level not in LEVELS:
            raise UserError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
        self.spec = resolve(task, recon, profile, guide_weight)
        self.level = streaming_level(self.spec.task, self.spec.profile.level_tasks, level)
        if self.level == "auto":
            self.spec = resolve(task, recon, profile, guide_weight, follow_level=True)
        self.task, self.recon = self.spec.task, self.spec.recon
        self._model = model
        self._frame_model()  # fail now, not at the first buffer, on a bad model path
        self._restore_model = self._load_restore_model(restore_model)
        self._engines: list[Engine] = []
        self._rate: int | None = None
        self._max_block = DEFAULT_BLOCK
        self._adapter = InputAdapter()
        self._lock = threading.RLock()

    # -- construction ------------------------------------------------------------------
    def _frame_model(self) -> FrameModel | None:
        low = self.spec.profile.low_delay
        self._model = task_model(self.task, self._model, self.spec.cfg, profile=self.spec.profile, recon=self.recon,
                                 threads=low.model_threads if low is not None else None)
        return self._model

    def _load_restore_model(self, restore_model: str | Path | FrameModel | None) -> FrameModel | None:
        if restore_model is None:
            return None  # the reconstruction loads the shipped one
        if self.recon != RESTORE_MODEL:
            raise UserError(f"restore_model applies to recon {RESTORE_MODEL!r} only, not {self.recon!r}")
        low = self.spec.profile.low_delay
        return task_model(RESTORE_MODEL, restore_model, self.spec.cfg, profile=self.spec.profile,
                          threads=low.model_threads if low is not None else None)

    def _ensure(self, rate: int, channels: int) -> None:
        """Engines for this rate and channel count; kept (state and all) when they already are."""
        check_channels(channels)
        if self._rate != rate or len(self._engines) != channels:
            model = self._frame_model()
            self._engines = [build_engine(self.spec, model, rate, restore_model=self._restore_model)
                             for _ in range(channels)]
            self._rate = rate

    @property
    def frame_model(self) -> FrameModel | None:
        """The task model the engines run (None for a task without one)."""
        return self._frame_model()   # loaded in __init__: this returns that same instance

    @property
    def nonfinite_samples(self) -> int:
        """Non-finite input samples replaced by zeros so far (NaN or infinite)."""
        return self._adapter.nonfinite_samples

    @property
    def sample_rate(self) -> int | None:
        """The rate the engines are prepared for (None before any)."""
        return self._rate

    @property
    def channels(self) -> int:
        return len(self._engines)

    def latency_for(self, sample_rate: float) -> int:
        """Latency in samples at a host rate (without allocating a processor for it)."""
        return build_engine(self.spec, self._frame_model(), check_sample_rate(sample_rate),
                            restore_model=self._restore_model).latency_samples

    @property
    def latency_samples(self) -> int:
        """Latency at the prepared rate, or of the last call (16 kHz before any)."""
        if self._engines:
            return self._engines[0].latency_samples
        return self.latency_for(self.spec.cfg.sample_rate)

    # -- JUCE-style lifecycle ------------------------------------------------------------
    def prepare(self, sample_rate: float, max_block_size: int = DEFAULT_BLOCK, channels: int = 1) -> None:
        """Build one engine per channel for this rate (models loaded, filters designed) and clear
        their state, so the first block costs no more than any other. ``max_block_size``: the
        longest block ``process_block`` runs in one go (longer ones are cut; the output does
        not depend on it)."""
        rate = check_sample_rate(sample_rate)
        if max_block_size < 1:
            raise UserError(f"max_block_size must be >= 1, got {max_block_size}")
        with self._lock:
            self._ensure(rate, int(channels))
            self._max_block = int(max_block_size)
            self._reset_engines()

    def process_block(self, block: np.ndarray) -> np.ndarray:
        """One block of a prepared stream, (channels, samples) or 1-D for mono: the aligned
        output samples now due, in the same layout (fewer than given while the latency fills)."""
        with self._lock:
            if not self._engines:
                raise RuntimeError("process_block before prepare(sample_rate, max_block_size, channels)")
            buf = self._adapter.adapt(block, layout=CHANNELS_FIRST)
            if buf.data.shape[0] != len(self._engines):
                raise AudioShapeError(f"block has {buf.data.shape[0]} channels; prepared for {len(self._engines)}")
            return buf.restore(self._push(buf.data, self._max_block))

    def reset(self) -> None:
        """Clear every engine's state (the next sample is treated as the start of a stream)."""
        with self._lock:
            self._reset_engines()

    def _reset_engines(self) -> None:
        for e in self._engines:
            e.reset()

    def _push(self, x: np.ndarray, block: int) -> np.ndarray:
        if len(self._engines) == 1 and x.shape[1] <= block:  # a live host's block: no copies
            return self._engines[0].push(x[0])[None]
        outs = []
        for e, ch in zip(self._engines, x):
            parts = [e.push(ch[i:i + block]) for i in range(0, len(ch), block)]
            outs.append(np.concatenate(parts) if parts else np.zeros(0))
        return np.stack(outs)

    # -- pedalboard API ----------------------------------------------------------------
    def process(self, input_array: np.ndarray, sample_rate: float, buffer_size: int = DEFAULT_BLOCK,
                reset: bool = True) -> np.ndarray:
        rate = check_sample_rate(sample_rate)
        if buffer_size < 1:
            raise UserError(f"buffer_size must be >= 1, got {buffer_size}")
        with self._lock:
            streaming = not reset and self._engines
            buf = self._adapter.adapt(input_array, len(self._engines) if streaming else None)
            if buf.empty:  # pedalboard: an empty buffer in, the same empty shape out
                if reset:
                    self._reset_engines()
                return np.zeros(buf.shape, np.float32)
            self._ensure(rate, buf.data.shape[0])
            if reset:
                self._reset_engines()
                y = np.stack([e.render(ch, block=buffer_size) for e, ch in zip(self._engines, buf.data)])
                self._reset_engines()
            else:
                y = self._push(buf.data, buffer_size)
            return buf.restore(y)

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

    def process(self, input_array: np.ndarray, sample_rate: float, buffer_size: int = DEFAULT_BLOCK,
                reset: bool = True) -> np.ndarray:
        y = input_array  # each member checks its own input (a Processor refuses integer audio)
        for p in self.plugins:
            y = p.process(y, sample_rate, buffer_size=buffer_size, reset=reset)
        return y

    __call__ = process
