"""Streaming sample-rate conversion with soxr, with a latency we can state in advance.

soxr's streaming output is identical however the input is cut (checked in the tests), but
how many samples it holds back depends on how it is fed. We therefore feed it in fixed
chunks of ``chunk`` input samples (or whole multiples of it, which never hold back more) and
measure, once per rate pair, the most it ever holds back under that feeding: that worst case
is this stage's declared latency.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import soxr

QUALITY = "HQ"


class StreamingResampler:
    """Mono soxr stream. ``process`` returns output samples aligned with time zero."""

    def __init__(self, in_rate: int, out_rate: int, chunk: int = 32, quality: str = QUALITY,
                 input_in_chunks: bool = False) -> None:
        """``input_in_chunks``: the caller only ever supplies whole chunks (the engine's core
        emits whole hops), so waiting for a chunk to fill is not part of this stage's latency."""
        self.in_rate, self.out_rate = int(in_rate), int(out_rate)
        self.chunk = int(chunk)
        self.quality = quality
        self.latency_samples = input_wait_and_holdback(self.in_rate, self.out_rate, self.chunk, quality,
                                                       not input_in_chunks)  # at the output rate
        self.reset()

    def reset(self) -> None:
        self._stream = soxr.ResampleStream(self.in_rate, self.out_rate, 1, dtype="float64",
                                           quality=self.quality)
        self._pending = np.zeros(0)

    def process(self, x: np.ndarray) -> np.ndarray:
        if len(self._pending) + len(x) < self.chunk:  # not a whole chunk yet: just keep it
            self._pending = np.concatenate([self._pending, x])
            return x[:0]
        if len(self._pending):
            x = np.concatenate([self._pending, x])
        usable = len(x) - len(x) % self.chunk
        self._pending = x[usable:].copy()
        if usable == 0:
            return np.zeros(0)
        return self._stream.resample_chunk(np.ascontiguousarray(x[:usable]))


class StreamResampler:
    """A whole file's resampling, block by block: (channels, n) at ``in_rate`` -> (channels, m) at
    ``out_rate`` (identity when equal), ``last=True`` flushes the tail. Unlike
    :class:`StreamingResampler` it declares no latency: what comes out is simply the start of the
    resampled signal, as one-shot soxr would give it up to the stream's edges."""

    def __init__(self, in_rate: int, out_rate: int, channels: int, quality: str = QUALITY) -> None:
        self.channels = channels
        self._rs = (soxr.ResampleStream(in_rate, out_rate, channels, dtype="float64", quality=quality)
                    if in_rate != out_rate else None)

    def push(self, x: np.ndarray, last: bool = False) -> np.ndarray:
        if self._rs is None:
            return x
        y = self._rs.resample_chunk(np.ascontiguousarray(x.T), last=last)
        return y.reshape(-1, self.channels).T


@lru_cache(maxsize=64)
def input_wait_and_holdback(in_rate: int, out_rate: int, chunk: int, quality: str = QUALITY,
                            count_wait: bool = True, seconds: float = 1.5) -> int:
    """Worst-case lag, in output samples, between input arriving and its output existing.

    Simulated on silence with the same fixed-chunk feeding that ``process`` uses, so the
    figure includes both the wait for a full chunk and soxr's own hold-back.
    """
    stream = soxr.ResampleStream(in_rate, out_rate, 1, dtype="float64", quality=quality)
    zeros = np.zeros(chunk)
    produced = 0
    worst = 0
    ratio = out_rate / in_rate
    for k in range(1, int(seconds * in_rate / chunk) + 1):
        # just before chunk k completes, chunk*k - 1 samples are in but only k-1 chunks fed
        if count_wait:
            worst = max(worst, int(np.floor((chunk * k - 1) * ratio)) - produced)
        produced += len(stream.resample_chunk(zeros))
        worst = max(worst, int(np.floor(chunk * k * ratio)) - produced)
    return worst + 1
