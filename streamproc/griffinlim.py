"""Phase reconstruction from magnitudes: offline fast Griffin-Lim and streaming RTISI-LA, in Numba.

Offline: the fast Griffin-Lim algorithm (Perraudin et al. 2013), i.e. Griffin-Lim with
momentum, on the framing convention of :mod:`streamproc.dsp`.

Streaming: Real-Time Iterative Spectrogram Inversion with Look-Ahead (Zhu, Beauregard & Wyse
2007). Frames arrive one at a time; the newest ``lookahead + 1`` frames stay open and are
refined by Gauss-Seidel Griffin-Lim updates against a partial overlap-add that is normalised
sample by sample by the squared windows actually present (so the not-yet-arrived future does
not bias the estimate); then the oldest is committed and never touched again. No step needs
more than ``lookahead`` frames of the future, and each frame costs ``iterations * (lookahead
+ 1)`` FFT pairs. A new frame's phase starts from the re-analysis of what overlaps it already
(RTISI's initialisation), rotated forward by the phase advance of each bin's frequency where
nothing overlaps yet. That re-analysis reads the partial overlap-add *un*-normalised, i.e.
tapered towards the missing future (the role of RTISI-LA's asymmetric window), while the
refinements normalise it: measured on a harmonic test tone, a normalised start gave -23.5 dB
spectral convergence and the tapered start -36.8 dB, at equal cost. Momentum (0.5) in the
refinements, as in fast Griffin-Lim, helps too (-33.8 dB without).
"""
from __future__ import annotations

import numba
import numpy as np

from .config import SpectralConfig
from .dsp import analysis_window, istft, stft, windows


def griffinlim(mag: np.ndarray, cfg: SpectralConfig, n_iter: int = 32, momentum: float = 0.99,
               seed: int = 0, length: int | None = None) -> np.ndarray:
    """Offline fast Griffin-Lim: magnitudes (frames, bins) -> audio."""
    mag = np.asarray(mag, dtype=np.float64)
    rng = np.random.default_rng(seed)
    angles = np.exp(2j * np.pi * rng.random(mag.shape))
    n = mag.shape[0] * cfg.hop
    prev = np.zeros_like(angles)
    beta = momentum / (1.0 + momentum)
    for _ in range(n_iter):
        rebuilt = stft(istft(mag * angles, cfg, n), cfg, mag.shape[0])
        angles = rebuilt - beta * prev
        angles /= np.maximum(np.abs(angles), 1e-16)
        prev = rebuilt
    return istft(mag * angles, cfg, length if length is not None else n)


@numba.njit(cache=True, nogil=True)
def _refine(slot, P, D, spec, contrib, cprev, mags, known, n_known, w, inv_scale, ana, hop, beta):
    """One Griffin-Lim update of the open frame in ``slot`` against the partial overlap-add.

    Bins below ``n_known`` are not estimated: they hold the known spectrum ``known``."""
    n_fft = w.shape[0]
    off = slot * hop
    buf = np.empty(n_fft)
    for i in range(n_fft):
        buf[i] = ana[i] * P[off + i] * D[off + i]
    rebuilt = np.fft.rfft(buf)
    nb = rebuilt.shape[0]
    for b in range(nb):
        if b < n_known:
            spec[slot, b] = known[slot, b]
            continue
        t = rebuilt[b] - beta * cprev[slot, b]
        a = abs(t)
        spec[slot, b] = mags[slot, b] * t / a if a > 1e-16 else mags[slot, b]
        cprev[slot, b] = rebuilt[b]
    frame = np.fft.irfft(spec[slot], n_fft)
    for i in range(n_fft):
        new = w[i] * frame[i] * inv_scale
        P[off + i] += new - contrib[slot, i]
        contrib[slot, i] = new


@numba.njit(cache=True, nogil=True)
def _push(new_mags, new_known, P, W, D, spec, contrib, cprev, mags, known, n_known, state, w, inv_scale,
          ana, advance, hop, lookahead, iterations, beta, inv_ola, out):
    """Feed frames; write committed frames into ``out``; return how many were committed."""
    n_fft = w.shape[0]
    n_out = 0
    for k in range(new_mags.shape[0]):
        slot = state[0]
        off = slot * hop
        for b in range(mags.shape[1]):
            mags[slot, b] = new_mags[k, b]
            cprev[slot, b] = 0.0
        for b in range(n_known):
            known[slot, b] = new_known[k, b]
        # initial phase: re-analysis of the overlap already present, else phase advance
        buf = np.empty(n_fft)
        energy = 0.0
        for i in range(n_fft):
            buf[i] = ana[i] * P[off + i] * inv_ola
            energy += buf[i] * buf[i]
        guess = np.fft.rfft(buf)
        for b in range(mags.shape[1]):
            a = abs(guess[b])
            if b < n_known:
                spec[slot, b] = known[slot, b]
            elif energy > 0.0 and a > 1e-12:
                spec[slot, b] = mags[slot, b] * guess[b] / a
            else:
                prev = spec[slot - 1, b] if slot > 0 else 0.0
                pa = abs(prev)
                if pa > 1e-12:
                    spec[slot, b] = mags[slot, b] * (prev / pa) * advance[b]
                else:
                    spec[slot, b] = mags[slot, b]
        frame = np.fft.irfft(spec[slot], n_fft)
        for i in range(n_fft):
            contrib[slot, i] = w[i] * frame[i] * inv_scale
            P[off + i] += contrib[slot, i]
            W[off + i] += w[i] * w[i]
        for i in range(W.shape[0]):  # D holds 1 / (sum of squared windows present)
            D[i] = 1.0 / W[i] if W[i] > 1e-12 else 0.0
        # refine the open frames, newest first then back to the oldest
        for _ in range(iterations):
            for s in range(slot, -1, -1):
                _refine(s, P, D, spec, contrib, cprev, mags, known, n_known, w, inv_scale, ana, hop, beta)
        if slot == lookahead:  # buffer full: commit the oldest frame and slide by one hop
            out[n_out] = spec[0]
            n_out += 1
            span = P.shape[0]
            for i in range(span - hop):
                P[i] = P[i + hop]
                W[i] = W[i + hop]
            for i in range(span - hop, span):
                P[i] = 0.0
                W[i] = 0.0
            for s in range(lookahead):
                spec[s] = spec[s + 1]
                contrib[s] = contrib[s + 1]
                cprev[s] = cprev[s + 1]
                mags[s] = mags[s + 1]
                known[s] = known[s + 1]
        else:
            state[0] = slot + 1
    return n_out


_NO_KNOWN = np.zeros((0, 1), np.complex128)


class StreamingGriffinLim:
    """Frame-by-frame phase reconstruction (RTISI-LA). Latency: ``lookahead`` frames.

    ``push(mags)`` takes magnitude frames (n, bins) and returns the committed complex frames;
    the i-th committed frame is the reconstruction of the i-th pushed frame.

    ``known_bins`` > 0: the lowest bins are known in full (magnitude and phase), as in
    super-resolution where the input's own low band is kept; ``push(mags, known)`` then takes
    them (n, known_bins) and only the bins above are estimated, consistently with the known
    ones (the overlap-add they are refined against contains the known band).
    """

    def __init__(self, cfg: SpectralConfig, lookahead: int = 3, iterations: int = 6,
                 momentum: float = 0.5, known_bins: int = 0) -> None:
        if not 0 <= known_bins <= cfg.n_bins:
            raise ValueError(f"known_bins must be within 0..{cfg.n_bins}")
        self.known_bins = int(known_bins)
        if lookahead < 0 or iterations < 0:
            raise ValueError("lookahead and iterations must be >= 0")
        self.cfg = cfg
        self.lookahead = lookahead
        self.iterations = iterations
        self.beta = momentum / (1.0 + momentum)
        # P holds sum_k w * irfft(X_k) / scale and D holds sum_k w^2, so P / D is the
        # overlap-add of the frames present and ana * P / D its re-analysis (ana = w * scale).
        self._w = analysis_window(cfg.n_fft)
        self._ana, _ = windows(cfg)
        self._inv_scale = float(self._w[1] / self._ana[1])
        self._inv_ola = 1.0 / float(np.sum(self._w[:: cfg.hop] ** 2))
        bins = np.arange(cfg.n_bins)
        self._advance = np.exp(2j * np.pi * bins * cfg.hop / cfg.n_fft)
        self.reset()

    def reset(self) -> None:
        c, slots = self.cfg, self.lookahead + 1
        span = c.n_fft + self.lookahead * c.hop
        self._P = np.zeros(span)
        self._W = np.zeros(span)
        self._D = np.zeros(span)
        self._spec = np.zeros((slots, c.n_bins), np.complex128)
        self._contrib = np.zeros((slots, c.n_fft))
        self._cprev = np.zeros((slots, c.n_bins), np.complex128)
        self._mags = np.zeros((slots, c.n_bins))
        self._known = np.zeros((slots, max(self.known_bins, 1)), np.complex128)
        self._state = np.zeros(1, np.int64)

    def push(self, mags: np.ndarray, known: np.ndarray | None = None) -> np.ndarray:
        mags = np.ascontiguousarray(np.atleast_2d(mags), dtype=np.float64)
        out = np.empty((mags.shape[0], self.cfg.n_bins), np.complex128)
        if self.known_bins:
            if known is None or np.shape(known) != (mags.shape[0], self.known_bins):
                raise ValueError(f"push needs the known spectrum, shape ({mags.shape[0]}, {self.known_bins})")
            known = np.ascontiguousarray(known, dtype=np.complex128)
        else:
            known = _NO_KNOWN  # never read when known_bins == 0
        n = _push(mags, known, self._P, self._W, self._D, self._spec, self._contrib, self._cprev, self._mags,
                  self._known, self.known_bins, self._state, self._w, self._inv_scale, self._ana, self._advance, self.cfg.hop,
                  self.lookahead, self.iterations, self.beta, self._inv_ola, out)
        return out[:n]

    def reconstruct(self, mags: np.ndarray, length: int | None = None) -> np.ndarray:
        """Convenience: reconstruct a whole magnitude spectrogram (frames, bins) to audio."""
        self.reset()
        mags = np.asarray(mags, dtype=np.float64)
        tail = np.zeros((self.lookahead, mags.shape[1]))
        if self.known_bins:
            raise ValueError("reconstruct() has no known band; stream with push(mags, known)")
        spec = np.concatenate([self.push(mags), self.push(tail)])[: mags.shape[0]]
        return istft(spec, self.cfg, length)
