"""Streaming phase reconstruction without iterations or lookahead: phase-gradient heap
integration (PGHI) of one frame at a time, for the low-delay framing (``streamproc.lowdelay``).

Why not Griffin-Lim there: Griffin-Lim needs the frames around the one it commits (lookahead
and iterations over a 64 ms window), which the ``live`` profile's 4 ms hops cannot wait for.
PGHI reads the phase's derivatives off the magnitude's own: for a Gaussian window
``exp(-pi t^2 / lam)`` and phases referred to each window's centre,

- along time: d(phase)/dt = 2 pi f + (1 / lam) d(log |X|)/df  (a partial's true frequency);
- along frequency: d(phase)/df = -lam d(log |X|)/dt  (where in the window the energy lies).

A Hann window of N samples behaves like ``lam = 0.25645 N^2``. The frequency derivative is a
centred difference within the frame; the time derivative is a backward difference against the
previous frame (no lookahead). Each frame's phases are integrated from the largest magnitude
outwards: from the previous frame along time, or from a neighbouring bin of this frame along
frequency, whichever reaches a bin first through the larger coefficient (a max-heap). Bins far
below the frame's peak advance at their own centre frequency. Everything is deterministic, so
output does not depend on how frames arrive.
"""
from __future__ import annotations

import numba
import numpy as np

HANN_LAMBDA = 0.25645  # lam / N^2 of the Gaussian that best matches a Hann window of N samples
TOLERANCE = 1e-5       # bins below this fraction of the frame's peak take no part in the heap
LOG_RANGE = 11.0       # log-magnitudes are clamped at (frame's peak - this), as for the tolerance
PROMINENCE_DB = 2.0    # only bins within 2 of a local maximum (over +-4 bins) that stands this far
                       # above the lowest bin there are integrated; the rest follow time alone.
                       # A descaled mel is flat across each upper band, and integrating such flat
                       # bins locks them in phase into one pulse per hop (too loud at the window's
                       # centre, too quiet off it): python -m bench.lowdelay_phase


@numba.njit(cache=True, nogil=True)
def _push(keys: np.ndarray, vals: np.ndarray, size: int, key: float, val: int) -> int:
    i = size
    keys[i], vals[i] = key, val
    while i > 0:
        parent = (i - 1) // 2
        if keys[parent] >= keys[i]:
            break
        keys[parent], keys[i] = keys[i], keys[parent]
        vals[parent], vals[i] = vals[i], vals[parent]
        i = parent
    return size + 1


@numba.njit(cache=True, nogil=True)
def _pop(keys: np.ndarray, vals: np.ndarray, size: int) -> tuple[int, int]:
    top = vals[0]
    size -= 1
    keys[0], vals[0] = keys[size], vals[size]
    i = 0
    while True:
        left, right, best = 2 * i + 1, 2 * i + 2, i
        if left < size and keys[left] > keys[best]:
            best = left
        if right < size and keys[right] > keys[best]:
            best = right
        if best == i:
            break
        keys[best], keys[i] = keys[i], keys[best]
        vals[best], vals[i] = vals[i], vals[best]
        i = best
    return top, size


@numba.njit(cache=True, nogil=True)
def _pghi(mag: np.ndarray, n_fft: int, hop: int, lam: float, past_log: np.ndarray, count: int,
          state_phase: np.ndarray, state_dt: np.ndarray, state_mag: np.ndarray, prominence: float) -> np.ndarray:
    """Phases for each row of ``mag`` (frames, bins); ``past_log`` is a ring of the last ``lag``
    frames' log-magnitudes (the time derivative spans ``lag`` hops; ``count`` frames came
    before), the state arrays carry the previous frame (phase, its time derivative, magnitude);
    all are updated in place."""
    n, bins = mag.shape
    lag = past_log.shape[0]
    out = np.empty((n, bins), dtype=np.complex128)
    two_pi = 2.0 * np.pi
    keys = np.empty(2 * bins)
    vals = np.empty(2 * bins, dtype=np.int64)
    slog = np.empty(bins)
    dt = np.empty(bins)
    dfreq = np.empty(bins)
    phase = np.empty(bins)
    done = np.zeros(bins, dtype=np.bool_)
    big = np.zeros(bins, dtype=np.bool_)
    for k in range(n):
        s = mag[k]
        peak = 0.0
        for m in range(bins):
            if s[m] > peak:
                peak = s[m]
        floor_log = np.log(max(peak, 1e-300)) - LOG_RANGE
        for m in range(bins):
            slog[m] = max(np.log(max(s[m], 1e-300)), floor_log)
        for m in range(bins):
            lo, hi = max(m - 1, 0), min(m + 1, bins - 1)
            dlog_df = (slog[hi] - slog[lo]) / ((hi - lo) / n_fft)  # per cycle/sample
            dt[m] = two_pi * m / n_fft + dlog_df / lam            # rad per sample
            dfreq[m] = -lam * (slog[m] - past_log[(count + k) % lag, m]) / (lag * hop)  # rad per cycle/sample
        size = 0
        remaining = 0
        for m in range(bins):
            big[m] = s[m] > TOLERANCE * peak and peak > 0.0
        if prominence > 0.0:  # only bins near a local peak that stands out are integrated
            for m in range(bins):
                if not big[m]:
                    continue
                near = False
                for j in range(max(m - 2, 0), min(m + 3, bins)):
                    is_max = True
                    low = slog[j]
                    for i in range(max(j - 4, 0), min(j + 5, bins)):
                        if slog[i] > slog[j]:
                            is_max = False
                        low = min(low, slog[i])
                    if is_max and slog[j] - low > prominence:
                        near = True
                        break
                big[m] = near
        for m in range(bins):
            done[m] = False
            # bins outside the heap: along time at their own frequency
            phase[m] = state_phase[m] + 0.5 * hop * (state_dt[m] + dt[m])
            if big[m]:
                remaining += 1
                if state_mag[m] > 0.0:
                    size = _push(keys, vals, size, state_mag[m], m)
        while remaining > 0:
            if size == 0:  # nothing left to follow: start from this frame's largest open bin
                best, best_mag = -1, -1.0
                for m in range(bins):
                    if big[m] and not done[m] and s[m] > best_mag:
                        best, best_mag = m, s[m]
                done[best] = True
                remaining -= 1
                size = _push(keys, vals, size, s[best], bins + best)
                continue
            v, size = _pop(keys, vals, size)
            if v < bins:  # from the previous frame: along time
                if big[v] and not done[v]:
                    phase[v] = state_phase[v] + 0.5 * hop * (state_dt[v] + dt[v])
                    done[v] = True
                    remaining -= 1
                    size = _push(keys, vals, size, s[v], bins + v)
            else:         # from this frame: along frequency, to both neighbours
                m = v - bins
                for nb in (m - 1, m + 1):
                    if 0 <= nb < bins and big[nb] and not done[nb]:
                        step = 0.5 * (dfreq[m] + dfreq[nb]) / n_fft
                        phase[nb] = phase[m] + (step if nb > m else -step)
                        done[nb] = True
                        remaining -= 1
                        size = _push(keys, vals, size, s[nb], bins + nb)
        for m in range(bins):
            p = phase[m] % two_pi
            out[k, m] = s[m] * (np.cos(p) + 1j * np.sin(p))
            past_log[(count + k) % lag, m] = slog[m]
            state_phase[m], state_dt[m], state_mag[m] = p, dt[m], s[m]
    return out


class StreamingPGHI:
    """Magnitudes (frames, bins) of a Hann-window STFT of ``n_fft`` at ``hop`` -> complex frames
    whose phases refer to each window's centre (``irfft`` puts the window's middle at index 0)."""

    def __init__(self, n_fft: int, hop: int, window_lambda: float = HANN_LAMBDA,
                 prominence_db: float = PROMINENCE_DB, time_lag: int = 1) -> None:
        """``prominence_db`` 0: every bin above the tolerance is integrated (plain PGHI).
        ``time_lag``: the hops the magnitude's time derivative spans; magnitudes that change only
        every few hops (a model held between runs) take that many, so the derivative is not zero
        on the held frames and all of it on the others."""
        if time_lag < 1:
            raise ValueError("time_lag must be at least 1")
        self.time_lag = int(time_lag)
        self.n_fft, self.hop = int(n_fft), int(hop)
        self.prominence = float(prominence_db) / 20.0 * np.log(10.0)
        self.lam = float(window_lambda) * n_fft * n_fft
        self.bins = n_fft // 2 + 1
        self.reset()

    def reset(self) -> None:
        b = self.bins
        self._log = np.full((self.time_lag, b), np.log(1e-300))
        self._count = 0
        self._phase = np.zeros(b)
        self._dt = 2.0 * np.pi * np.arange(b) / self.n_fft
        self._mag = np.zeros(b)

    def push(self, magnitude: np.ndarray) -> np.ndarray:
        mag = np.ascontiguousarray(np.atleast_2d(magnitude), dtype=np.float64)
        if mag.shape[1] != self.bins:
            raise ValueError(f"expected {self.bins} bins, got {mag.shape[1]}")
        out = _pghi(mag, self.n_fft, self.hop, self.lam, self._log, self._count, self._phase, self._dt,
                    self._mag, self.prominence)
        self._count += len(mag)
        return out
