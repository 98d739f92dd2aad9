"""Spectral DSP shared by the streaming engine, the data renderer and the benchmarks.

Framing convention (the streaming framer and the offline functions agree on it): frame ``k``
covers samples ``[k*hop - n_fft + hop, k*hop + hop)``; samples before 0 are zeros. So frame
``k`` is complete as soon as sample ``(k+1)*hop - 1`` has arrived, and overlap-add output is
aligned with the input (no time shift to undo).

Magnitudes are in amplitude units: a full-scale sine of amplitude ``a`` peaks at ``a``.
Every per-frame kernel is a Numba loop that treats each frame alone, so results never depend
on how frames were batched (the engine's block-size invariance rests on this).
"""
from __future__ import annotations

from functools import lru_cache

import numba
import numpy as np
import rocket_fft  # noqa: F401  (registers np.fft for Numba)

from .config import SpectralConfig

@lru_cache(maxsize=16)
def analysis_window(n_fft: int) -> np.ndarray:
    """Periodic Hann: its squares overlap-add to a constant at hop n_fft/4."""
    n = np.arange(n_fft)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * n / n_fft)

@lru_cache(maxsize=16)
def _scales(n_fft: int, hop: int) -> tuple[np.ndarray, float, np.ndarray]:
    w = analysis_window(n_fft)
    spec_scale = 2.0 / w.sum()
    ola = np.zeros(hop)
    for k in range(n_fft // hop):
        ola += w[k * hop:(k + 1) * hop] ** 2
    if np.ptp(ola) > 1e-9 * ola.max():
        raise ValueError("window does not overlap-add to a constant at this hop")
    synth = w / ola[0] / spec_scale  # undo the analysis scale, weight, normalise the overlap
    return w * spec_scale, spec_scale, synth

@lru_cache(maxsize=16)
def asymmetric_windows(n_fft: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """(analysis, synthesis) windows of ``n_fft`` samples for hop ``hop``.

    Analysis: the square root of a Hann rise over ``n_fft - hop`` samples, then the square root
    of a Hann fall over the last hop. Synthesis: zero but for the last two hops, where
    analysis x synthesis is a periodic Hann of ``2 * hop`` samples, which sums to one at
    ``hop``: perfect reconstruction, and each frame's output needs only two hops (the
    low-delay framing, ``streamproc.lowdelay``). Unscaled."""
    n, m = n_fft, hop
    if n < 2 * m:
        raise ValueError("the window must span at least two hops")
    rise = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n - m) / (2 * (n - m)))
    short = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(2 * m) / (2 * m))  # periodic Hann, 2 hops
    ana = np.concatenate([np.sqrt(rise), np.sqrt(short[m:])])
    syn = np.zeros(n)
    syn[n - 2 * m:n - m] = short[:m] / np.maximum(np.sqrt(rise[n - 2 * m:]), 1e-12)
    syn[n - m:] = np.sqrt(short[m:])
    ana.setflags(write=False)
    syn.setflags(write=False)
    return ana, syn

@lru_cache(maxsize=16)
def scaled_asymmetric_windows(n_fft: int, hop: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`asymmetric_windows` scaled as :func:`windows` scales the Hann: spectra read as
    amplitudes, the synthesis window undoes it."""
    ana, syn = asymmetric_windows(n_fft, hop)
    scale = 2.0 / ana.sum()
    return ana * scale, syn / scale


def windows(cfg: SpectralConfig) -> tuple[np.ndarray, np.ndarray]:
    """(analysis window incl. amplitude scale, synthesis window incl. overlap normalisation)."""
    ana, _, syn = _scales(cfg.n_fft, cfg.hop)
    return ana, syn

def n_frames_for(n_samples: int, cfg: SpectralConfig) -> int:
    """Frames needed so that every one of ``n_samples`` samples is fully overlap-added."""
    if n_samples <= 0:
        return 0
    return (n_samples - 1 + cfg.n_fft - cfg.hop) // cfg.hop + 1

@numba.njit(cache=True, nogil=True)
def _stft_frames(padded: np.ndarray, window: np.ndarray, hop: int, n_frames: int) -> np.ndarray:
    n_fft = window.shape[0]
    out = np.empty((n_frames, n_fft // 2 + 1), dtype=np.complex128)
    buf = np.empty(n_fft)
    for k in range(n_frames):
        start = k * hop
        for i in range(n_fft):
            buf[i] = padded[start + i] * window[i]
        out[k] = np.fft.rfft(buf)
    return out

@numba.njit(cache=True, nogil=True)
def _overlap_add(spec: np.ndarray, window: np.ndarray, hop: int, out: np.ndarray) -> None:
    """Add the synthesis of every frame of ``spec`` into ``out`` (frame k at offset k*hop)."""
    n_fft = window.shape[0]
    for k in range(spec.shape[0]):
        frame = np.fft.irfft(spec[k], n_fft)
        start = k * hop
        for i in range(n_fft):
            out[start + i] += frame[i] * window[i]

def stft(x: np.ndarray, cfg: SpectralConfig, n_frames: int | None = None,
         window: np.ndarray | None = None) -> np.ndarray:
    """Complex STFT, shape (frames, bins), with the framing convention of this module (frame k
    ends with sample ``(k+1)*hop - 1``). ``window``: another analysis window of ``n_fft``
    samples, already scaled (default: the scaled Hann of :func:`windows`)."""
    x = np.asarray(x, dtype=np.float64)
    if n_frames is None:
        n_frames = n_frames_for(len(x), cfg)
    lead = cfg.n_fft - cfg.hop
    padded = np.zeros(lead + n_frames * cfg.hop)
    m = min(len(x), n_frames * cfg.hop)
    padded[lead:lead + m] = x[:m]
    ana = windows(cfg)[0] if window is None else np.asarray(window, dtype=np.float64)
    if ana.shape != (cfg.n_fft,):
        raise ValueError(f"the analysis window must have n_fft = {cfg.n_fft} samples, not {ana.shape}")
    return _stft_frames(padded, ana, cfg.hop, n_frames)

def istft(spec: np.ndarray, cfg: SpectralConfig, length: int | None = None) -> np.ndarray:
    """Overlap-add inverse of :func:`stft` (perfect reconstruction for unmodified spectra)."""
    spec = np.ascontiguousarray(spec, dtype=np.complex128)
    lead = cfg.n_fft - cfg.hop
    out = np.zeros(lead + spec.shape[0] * cfg.hop)
    _, syn = windows(cfg)
    _overlap_add(spec, syn, cfg.hop, out)
    y = out[lead:]
    if length is not None:
        y = np.concatenate([y, np.zeros(max(0, length - len(y)))])[:length]
    return y

# ---------------------------------------------------------------- mel scale (Slaney)

def hz_to_mel(f: np.ndarray | float) -> np.ndarray:
    """Slaney's auditory mel scale (linear below 1 kHz, logarithmic above), as librosa's default."""
    f = np.asarray(f, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    mel = f / f_sp
    log_part = min_log_hz / f_sp + np.log(np.maximum(f, 1e-12) / min_log_hz) / logstep
    return np.where(f >= min_log_hz, log_part, mel)

def mel_to_hz(m: np.ndarray | float) -> np.ndarray:
    m = np.asarray(m, dtype=np.float64)
    f_sp = 200.0 / 3
    min_log_hz, logstep = 1000.0, np.log(6.4) / 27.0
    min_log_mel = min_log_hz / f_sp
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

@lru_cache(maxsize=16)
def mel_filterbank(cfg: SpectralConfig) -> np.ndarray:
    """Triangular filters of peak 1 on the Slaney mel scale, shape (n_mels, bins).

    Peak-1 triangles (librosa's ``norm=None``) keep a pure tone's mel value equal to its
    amplitude, so the dB features read as dB re full scale.
    """
    freqs = np.linspace(0, cfg.sample_rate / 2, cfg.n_bins)
    edges = mel_to_hz(np.linspace(hz_to_mel(cfg.fmin), hz_to_mel(cfg.fmax), cfg.n_mels + 2))
    fb = np.zeros((cfg.n_mels, cfg.n_bins))
    for m in range(cfg.n_mels):
        lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
        rising = (freqs - lo) / (mid - lo)
        falling = (hi - freqs) / (hi - mid)
        fb[m] = np.maximum(0.0, np.minimum(rising, falling))
    fb.setflags(write=False)
    return fb

@lru_cache(maxsize=16)
def _sparse_bank(cfg: SpectralConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Band m uses bins [start[m], start[m] + len(weights)) with weights[offs[m]:offs[m+1]]."""
    fb = mel_filterbank(cfg)
    starts, offs, weights = [], [0], []
    for row in fb:
        nz = np.nonzero(row)[0]
        s, e = (nz[0], nz[-1] + 1) if len(nz) else (0, 0)
        starts.append(s)
        weights.extend(row[s:e])
        offs.append(len(weights))
    return np.array(starts, np.int64), np.array(offs, np.int64), np.array(weights)

@numba.njit(cache=True, nogil=True)
def _mel_project(mag, starts, offs, weights, out):
    for k in range(mag.shape[0]):
        for m in range(starts.shape[0]):
            s = starts[m]
            acc = 0.0
            for j in range(offs[m + 1] - offs[m]):
                acc += weights[offs[m] + j] * mag[k, s + j]
            out[k, m] = acc

@numba.njit(cache=True, nogil=True)
def _mel_transpose(mel, starts, offs, weights, out):
    out[:] = 0.0
    for k in range(mel.shape[0]):
        for m in range(starts.shape[0]):
            s = starts[m]
            for j in range(offs[m + 1] - offs[m]):
                out[k, s + j] += weights[offs[m] + j] * mel[k, m]

@numba.njit(cache=True, nogil=True)
def _descale(mel, starts, offs, weights, n_bins, iterations):
    n_frames, n_mels = mel.shape
    ones = np.ones((1, n_bins))
    ones_mel = np.empty((1, n_mels))
    _mel_project(ones, starts, offs, weights, ones_mel)
    colsum = np.empty((1, n_bins))
    _mel_transpose(ones_mel, starts, offs, weights, colsum)  # M^T M 1: start from a flat fit
    mag = np.empty((n_frames, n_bins))
    _mel_transpose(mel, starts, offs, weights, mag)  # M^T y
    mty = mag.copy()
    for k in range(n_frames):
        for b in range(n_bins):
            mag[k, b] = mag[k, b] / colsum[0, b] if colsum[0, b] > 0 else 0.0
    approx = np.empty((n_frames, n_mels))
    back = np.empty((n_frames, n_bins))
    for _ in range(iterations):
        _mel_project(mag, starts, offs, weights, approx)
        _mel_transpose(approx, starts, offs, weights, back)
        for k in range(n_frames):
            for b in range(n_bins):
                mag[k, b] *= mty[k, b] / (back[k, b] + 1e-12)
    return mag

def mel_from_magnitude(mag: np.ndarray, cfg: SpectralConfig) -> np.ndarray:
    mag = np.ascontiguousarray(np.atleast_2d(mag), dtype=np.float64)
    out = np.empty((mag.shape[0], cfg.n_mels))
    _mel_project(mag, *_sparse_bank(cfg), out)
    return out

def descale(mel: np.ndarray, cfg: SpectralConfig, iterations: int = 12) -> np.ndarray:
    """Mel amplitudes -> linear magnitudes, shape (frames, n_mels) -> (frames, bins).

    The mel projection throws information away, so this is an estimate. We take the
    non-negative least-squares solution (multiplicative updates, as in NMF, started from the
    filterbank's transpose normalised by its column sums): unlike the pseudo-inverse it never
    produces negative magnitudes or ringing lobes, and because each bin touches at most two
    triangles the updates are cheap enough to run per frame in real time.
    """
    mel = np.ascontiguousarray(np.atleast_2d(mel), dtype=np.float64)
    return _descale(np.maximum(mel, 0.0), *_sparse_bank(cfg), cfg.n_bins, iterations)

def features_from_mel(mel: np.ndarray, cfg: SpectralConfig) -> np.ndarray:
    """Mel amplitudes -> log-mel image in [-1, 1] (dB range ``db_floor..db_ceil``)."""
    db = 20.0 * np.log10(np.maximum(mel, 10.0 ** (cfg.db_floor / 20.0)))
    span = cfg.db_ceil - cfg.db_floor
    return np.clip((db - cfg.db_floor) / span * 2.0 - 1.0, -1.0, 1.0)

def mel_from_features(feat: np.ndarray, cfg: SpectralConfig) -> np.ndarray:
    span = cfg.db_ceil - cfg.db_floor
    db = (np.asarray(feat, dtype=np.float64) + 1.0) / 2.0 * span + cfg.db_floor
    mel = 10.0 ** (db / 20.0)
    return np.where(feat <= -1.0, 0.0, mel)

def log_mel_features(x: np.ndarray, cfg: SpectralConfig) -> np.ndarray:
    """Audio at ``cfg.sample_rate`` -> normalised log-mel image, shape (n_mels, frames)."""
    return features_from_mel(mel_from_magnitude(np.abs(stft(x, cfg)), cfg), cfg).T

def spectral_convergence_db(target_mag: np.ndarray, estimate: np.ndarray) -> float:
    """20 log10(||S - |X|||_F / ||S||_F): how far a reconstruction's magnitudes are off."""
    err = np.linalg.norm(np.abs(estimate) - target_mag)
    return float(20.0 * np.log10(err / max(float(np.linalg.norm(target_mag)), 1e-20)))
