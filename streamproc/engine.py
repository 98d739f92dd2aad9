"""The streaming engine: framer -> frame stages -> synthesiser, wrapped in resamplers and a delay line.

Latency is declared, not observed: every stage states when it hands its output on (frame
stages a :class:`~streamproc.frames.FrameSchedule`, the framer and synthesiser their
``latency_samples``), the core computes the exact worst case of the frame stages in series
(``frames.chain_latency_frames``; a plain sum over-declares when chunkers line up), the engine
adds the rest (converting frames to samples and model-rate samples to host samples) and then
delays its output by exactly that total. So an impulse at input sample n leaves at n + latency,
whatever the block sizes; offline rendering removes that delay and returns output aligned
with the input.
"""
from __future__ import annotations

import math
from typing import Protocol, Sequence

import numpy as np

from .config import SpectralConfig
from .frames import Frames, chain_latency_frames, check_chain, schedule_of
from .resample import StreamingResampler
from .stages import FrameStage, StftFramer


class Synthesiser(Protocol):
    reads: tuple[str, ...]  # Frames fields it needs
    latency_samples: int    # model rate

    def process(self, frames: Frames) -> np.ndarray: ...

    def reset(self) -> None: ...


class Framer(Protocol):
    writes: tuple[str, ...]  # Frames fields it sets
    latency_samples: int     # model rate
    analysis_window: np.ndarray  # unscaled window behind ``stft`` (frame levels need it)

    def process(self, x: np.ndarray) -> Frames: ...

    def reset(self) -> None: ...


class Core:
    """Mono processing at the model rate: samples in, time-aligned samples out (when ready).

    The chain is checked once, here: a stage that reads a Frames field no stage before it
    writes is a FrameContractError naming both. ``latency_samples`` is at the model rate.

    ``latency_frames`` is the exact worst case of the frame stages in series, computed from
    their schedules (a stage without one counts as a pure delay of its own ``latency_frames``);
    ``latency_frames_bound``, the sum of the stages' own worst cases, is what a plain sum would
    declare (never less)."""

    def __init__(self, cfg: SpectralConfig, stages: Sequence[FrameStage], synth: Synthesiser,
                 framer: Framer | None = None) -> None:
        """``framer`` defaults to the STFT framer of ``cfg`` (the low-delay framing brings its own)."""
        self.cfg = cfg
        self.framer = framer if framer is not None else StftFramer(cfg)
        self.stages = list(stages)
        self.synth = synth
        check_chain(self.framer, self.stages, synth)
        self.latency_frames = chain_latency_frames(schedule_of(s) for s in self.stages)
        self.latency_frames_bound = sum(s.latency_frames for s in self.stages)
        self.latency_samples = (self.framer.latency_samples + self.latency_frames * cfg.hop
                                + synth.latency_samples)

    def reset(self) -> None:
        self.framer.reset()
        for s in self.stages:
            s.reset()
        self.synth.reset()

    def process(self, x: np.ndarray) -> np.ndarray:
        frames = self.framer.process(x)
        if not len(frames):
            return np.zeros(0)
        for stage in self.stages:
            frames = stage.process(frames)
            if not len(frames):
                return np.zeros(0)
        return self.synth.process(frames)


class Engine:
    """One channel, host rate(s) in and out, exact declared latency in output samples.

    ``push`` returns the aligned output samples that became due (output sample j is due once
    the input has reached the time of sample j plus the latency); ``process`` returns a
    delay-line view: exactly as many samples as it was given, the first ``latency_samples``
    zeros. ``latency_samples`` is at the host's output rate (the core's is at the model rate).
    """

    def __init__(self, core: Core, in_rate: int, out_rate: int | None = None, quality: str = "HQ") -> None:
        self.core = core
        self.in_rate = int(in_rate)
        self.out_rate = int(out_rate or in_rate)
        model_rate = core.cfg.sample_rate
        self._rs_in = (StreamingResampler(self.in_rate, model_rate, quality=quality)
                       if self.in_rate != model_rate else None)
        self._rs_out = (StreamingResampler(model_rate, self.out_rate, chunk=core.cfg.hop, quality=quality,
                                           input_in_chunks=True)
                        if self.out_rate != model_rate else None)
        lat_model = core.latency_samples + (self._rs_in.latency_samples if self._rs_in else 0)
        lat = math.ceil(lat_model * self.out_rate / model_rate) + (1 if self._rs_in or self._rs_out else 0)
        self.latency_samples = lat + (self._rs_out.latency_samples if self._rs_out else 0)
        self.reset()

    @property
    def latency(self) -> int:
        """Same as ``latency_samples`` (host output rate), for callers written before the rename."""
        return self.latency_samples

    def reset(self) -> None:
        self.core.reset()
        for rs in (self._rs_in, self._rs_out):
            if rs is not None:
                rs.reset()
        self._n_in = 0
        self._n_out = 0          # aligned samples handed out
        self._ready = np.zeros(0)  # aligned samples produced but not yet due
        self._delay_filled = 0   # leading zeros handed out by ``process``

    def due(self, n_in: int) -> int:
        """Aligned output samples due once ``n_in`` input samples have arrived."""
        return max(0, n_in * self.out_rate // self.in_rate - self.latency_samples)

    def push(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64)
        self._n_in += len(x)
        y = self._rs_in.process(x) if self._rs_in else x
        y = self.core.process(y) if len(y) else y  # small host blocks often complete nothing
        if self._rs_out and len(y):
            y = self._rs_out.process(y)
        ready = np.concatenate([self._ready, y]) if len(self._ready) else y
        want = self.due(self._n_in) - self._n_out
        if want > len(ready):
            raise RuntimeError(f"engine latency underrun: {want - len(ready)} samples short "
                               f"(declared latency {self.latency_samples} samples is too small)")
        out, self._ready = ready[:want], ready[want:]
        self._n_out += want
        return out

    def process(self, x: np.ndarray) -> np.ndarray:
        """Delay-line view for live use: len(x) samples out, the first ``latency_samples`` being zeros."""
        aligned = self.push(x)
        lead = min(len(x) - len(aligned), self.latency_samples - self._delay_filled)
        self._delay_filled += lead
        return np.concatenate([np.zeros(lead), aligned]) if lead else aligned

    def render(self, x: np.ndarray, block: int | None = None, progress=None) -> np.ndarray:
        """Offline: output aligned with the input, same duration (at the output rate)."""
        self.reset()
        n_out = int(round(len(x) * self.out_rate / self.in_rate))
        pad = math.ceil((self.latency_samples + 2) * self.in_rate / self.out_rate) + 1
        src = np.concatenate([np.asarray(x, dtype=np.float64), np.zeros(pad)])
        block = block or len(src)
        parts = []
        for start in range(0, len(src), block):
            parts.append(self.push(src[start:start + block]))
            if progress is not None:
                progress(min(block, len(src) - start))
        y = np.concatenate(parts) if parts else np.zeros(0)
        return y[:n_out]
