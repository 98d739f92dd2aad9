"""Quality metrics shared by ``streamproc compare``, ``render --reference`` and the benchmarks.

- SI-SDR (dB; Le Roux et al. 2019), both signals made zero-mean first: a waveform metric, so
  it is meaningful only where the estimate keeps the reference's phase (mask-type methods).
- Log-spectral distance: mean over frames of sqrt(mean over bins of
  (log10(|S_ref|^2 + eps) - log10(|S_est|^2 + eps))^2) on 16 kHz STFT magnitudes (n_fft 1024,
  hop 256, periodic Hann, centred frames, eps 1e-10): phase-blind, so it also scores
  Griffin-Lim outputs. ``band`` restricts it to bins within [lo_hz, hi_hz] (e.g. the upper
  band a super-resolution model fills in). With eps 1e-10 on this unnormalised STFT, bins as
  quiet as about -150 dB below full scale count as much as loud ones, and soundfont renderings
  have exact digital silence there, so the figure can be ruled by what nobody hears.
  ``range_db`` (e.g. 80) floors both spectra at that many dB below the reference's loudest
  bin instead: the same distance over the dynamic range that matters. Reports give both.
"""
from __future__ import annotations

import numpy as np

EPS = 1e-10
LSD_RATE, LSD_N_FFT, LSD_HOP = 16000, 1024, 256


def si_sdr(ref: np.ndarray, est: np.ndarray) -> float:
    """Scale-invariant SDR in dB of ``est`` against ``ref`` (1-D, equal length)."""
    ref = np.asarray(ref, np.float64) - np.mean(ref)
    est = np.asarray(est, np.float64) - np.mean(est)
    alpha = np.dot(est, ref) / max(np.dot(ref, ref), EPS)
    target = alpha * ref
    noise = est - target
    return float(10.0 * np.log10(max(np.dot(target, target), EPS) / max(np.dot(noise, noise), EPS)))


def _stft_mag(x: np.ndarray, n_fft: int = LSD_N_FFT, hop: int = LSD_HOP) -> np.ndarray:
    """|STFT| (frames, bins), periodic Hann, centred frames with zero padding."""
    x = np.asarray(x, np.float64)
    win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(n_fft) / n_fft)
    pad = np.concatenate([np.zeros(n_fft // 2), x, np.zeros(n_fft // 2)])
    n = 1 + (len(pad) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(n)[:, None]
    return np.abs(np.fft.rfft(pad[idx] * win, axis=1))


def lsd(ref: np.ndarray, est: np.ndarray, band: tuple[float, float] | None = None,
        range_db: float | None = None) -> float:
    """Log-spectral distance of 16 kHz signals (1-D, equal length); ``band`` = (lo_hz, hi_hz);
    ``range_db``: floor both power spectra that far below the reference's loudest bin."""
    p, q = _stft_mag(ref) ** 2, _stft_mag(est) ** 2
    if range_db is None:
        a, b = np.log10(p + EPS), np.log10(q + EPS)
    else:
        floor = max(float(p.max()) * 10.0 ** (-range_db / 10.0), EPS)
        a, b = np.log10(np.maximum(p, floor)), np.log10(np.maximum(q, floor))
    if band is not None:
        lo, hi = band
        freqs = np.fft.rfftfreq(LSD_N_FFT, 1.0 / LSD_RATE)
        keep = (freqs >= lo) & (freqs <= hi)
        if not keep.any():
            raise ValueError(f"band {band} Hz holds no STFT bin (0..{LSD_RATE // 2} Hz)")
        a, b = a[:, keep], b[:, keep]
    return float(np.mean(np.sqrt(np.mean((a - b) ** 2, axis=1))))


def score(ref: np.ndarray, est: np.ndarray, rate: int) -> dict[str, float]:
    """SI-SDR (at ``rate``) and LSD (resampled to 16 kHz) of (channels, samples) arrays of one
    shape, each the mean over channels."""
    ref, est = np.atleast_2d(np.asarray(ref, np.float64)), np.atleast_2d(np.asarray(est, np.float64))
    if ref.shape != est.shape:
        raise ValueError(f"shapes differ: {ref.shape} and {est.shape}")
    if int(rate) != LSD_RATE:
        import soxr

        ref16, est16 = (soxr.resample(a.T, int(rate), LSD_RATE, quality="HQ").T for a in (ref, est))
    else:
        ref16, est16 = ref, est
    return {"si_sdr": float(np.mean([si_sdr(r, e) for r, e in zip(ref, est)])),
            "lsd": float(np.mean([lsd(r, e) for r, e in zip(ref16, est16)]))}
