"""Single-producer single-consumer ring buffer for audio frames, safe for an audio callback.

No locks: the producer only advances ``_write``, the consumer only advances ``_read``, and each
index is published after the data it covers has been copied (Python's GIL makes the integer
stores atomic). Reads and writes copy at most what fits and report how much that was, so the
callback never waits.
"""
from __future__ import annotations

import numpy as np


class RingBuffer:
    def __init__(self, capacity: int, channels: int) -> None:
        self._buf = np.zeros((capacity, channels), np.float32)
        self.capacity = capacity
        self._write = 0  # total frames written (monotonic)
        self._read = 0   # total frames read (monotonic)

    @property
    def available(self) -> int:
        return self._write - self._read

    @property
    def free(self) -> int:
        return self.capacity - self.available

    def write(self, data: np.ndarray) -> int:
        n = min(len(data), self.free)
        start = self._write % self.capacity
        first = min(n, self.capacity - start)
        self._buf[start:start + first] = data[:first]
        self._buf[: n - first] = data[first:n]
        self._write += n
        return n

    def read_into(self, out: np.ndarray) -> int:
        n = min(len(out), self.available)
        start = self._read % self.capacity
        first = min(n, self.capacity - start)
        out[:first] = self._buf[start:start + first]
        out[first:n] = self._buf[: n - first]
        self._read += n
        return n

    def read(self, max_frames: int | None = None) -> np.ndarray:
        n = self.available if max_frames is None else min(max_frames, self.available)
        out = np.empty((n, self._buf.shape[1]), np.float32)
        self.read_into(out)
        return out
