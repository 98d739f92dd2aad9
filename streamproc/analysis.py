"""Whole-file measurements in bounded memory, fed block by block: pictures and scores.

``render --plot``, ``render --reference`` and ``compare`` must work on files of any length, so
nothing here keeps a signal: audio arrives in blocks, is mixed or resampled as a stream, cut
into frames on the fly, and only per-frame results (pooled for pictures) or running sums (for
scores) are kept. On files that fit in memory the figures equal :mod:`streamproc.metrics` and
:func:`streamproc.plots.mel_db` up to soxr's streaming versus one-shot edges.
"""
from __future__ import annotations

import math

import numpy as np

from .config import DEFAULT
from .metrics import EPS, LSD_HOP, LSD_N_FFT, LSD_RATE
from .resample import StreamResampler

MAX_COLUMNS = 2400  # a picture of a long file keeps at most this many (pooled) frames


class BlockFramer:
    """Mono samples in, whole frames of ``n_fft`` (every ``hop``) out; ``lead`` zeros before the
    first sample, zeros appended by :meth:`finish` until ``n_frames`` frames have come out."""

    def __init__(self, n_fft: int, hop: int, lead: int) -> None:
        self.n_fft, self.hop = n_fft, hop
        self._buf = np.zeros(lead)
        self.n_samples = 0
        self.n_frames = 0

    def push(self, x: np.ndarray) -> np.ndarray:
        self.n_samples += len(x)
        self._buf = np.concatenate([self._buf, x])
        return self._take()

    def _take(self) -> np.ndarray:
        m = 0 if len(self._buf) < self.n_fft else 1 + (len(self._buf) - self.n_fft) // self.hop
        if m == 0:
            return np.zeros((0, self.n_fft))
        idx = np.arange(self.n_fft)[None, :] + self.hop * np.arange(m)[:, None]
        frames = self._buf[idx]
        self._buf = self._buf[m * self.hop:]
        self.n_frames += m
        return frames

    def finish(self, n_frames: int) -> np.ndarray:
        """Zero-pads until exactly ``n_frames`` frames in all have been returned."""
        missing = n_frames - self.n_frames
        if missing <= 0:
            return np.zeros((0, self.n_fft))
        need = self.n_fft + (missing - 1) * self.hop - len(self._buf)
        self._buf = np.concatenate([self._buf, np.zeros(max(0, need))])
        return self._take()[:missing]


class MelPicture:
    """The log-mel picture of a whole signal (:func:`streamproc.plots.mel_db`'s framing, the
    several channels averaged, 16 kHz), every ``pool`` frames averaged (in power) into one column."""

    def __init__(self, rate: int, channels: int, pool: int = 1) -> None:
        c = DEFAULT
        self.pool = max(1, int(pool))
        self._rs = StreamResampler(rate, c.sample_rate, 1)
        self._framer = BlockFramer(c.n_fft, c.hop, c.n_fft - c.hop)
        self._cols: list[np.ndarray] = []
        self._acc = np.zeros(c.n_mels)
        self._acc_n = 0

    @staticmethod
    def pool_for(seconds: float) -> int:
        frames = seconds * DEFAULT.sample_rate / DEFAULT.hop
        return max(1, math.ceil(frames / MAX_COLUMNS))

    def push(self, x: np.ndarray) -> None:
        """``x``: (channels, n) at the picture's input rate."""
        self._frames(self._framer.push(self._rs.push(x.mean(axis=0, keepdims=True))[0]))

    def _frames(self, frames: np.ndarray) -> None:
        from . import dsp

        if not len(frames):
            return
        ana, _ = dsp.windows(DEFAULT)
        mel = dsp.mel_from_magnitude(np.abs(np.fft.rfft(frames * ana, axis=1)), DEFAULT)
        for row in mel:  # pooled in power
            self._acc += row * row
            self._acc_n += 1
            if self._acc_n == self.pool:
                self._flush()

    def _flush(self) -> None:
        if self._acc_n:
            self._cols.append(np.sqrt(self._acc / self._acc_n))
            self._acc = np.zeros_like(self._acc)
            self._acc_n = 0

    def finish(self) -> np.ndarray:
        """(n_mels, columns) in dB re full scale."""
        from .dsp import n_frames_for

        tail = self._rs.push(np.zeros((1, 0)), last=True)[0]
        self._frames(self._framer.push(tail))
        n = self._framer.n_samples
        self._frames(self._framer.finish(n_frames_for(n, DEFAULT)))
        self._flush()
        mel = np.array(self._cols).T if self._cols else np.zeros((DEFAULT.n_mels, 0))
        return 20.0 * np.log10(np.maximum(mel, 1e-10))


class _LsdTrack:
    """Per-frame log-spectral distance of one channel pair at 16 kHz (metrics.lsd's framing)."""

    def __init__(self) -> None:
        self.ref = BlockFramer(LSD_N_FFT, LSD_HOP, LSD_N_FFT // 2)
        self.est = BlockFramer(LSD_N_FFT, LSD_HOP, LSD_N_FFT // 2)
        self.total = 0.0
        self.frames = 0
        self._win = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(LSD_N_FFT) / LSD_N_FFT)

    def add(self, fr: np.ndarray, fe: np.ndarray) -> None:
        if not len(fr):
            return
        p = np.abs(np.fft.rfft(fr * self._win, axis=1)) ** 2
        q = np.abs(np.fft.rfft(fe * self._win, axis=1)) ** 2
        d = np.log10(p + EPS) - np.log10(q + EPS)
        self.total += float(np.sqrt(np.mean(d * d, axis=1)).sum())
        self.frames += len(fr)


class StreamingScore:
    """SI-SDR and LSD (:func:`streamproc.metrics.score`) of two (channels, samples) signals of one
    rate and length, fed in blocks of equal length; each figure is the mean over channels."""

    def __init__(self, rate: int, channels: int) -> None:
        self.channels = channels
        self._sums = np.zeros((5, channels))  # sum r, sum e, sum r*r, sum e*e, sum r*e
        self.n = 0
        self._rs_ref = StreamResampler(rate, LSD_RATE, channels)
        self._rs_est = StreamResampler(rate, LSD_RATE, channels)
        self._lsd = [_LsdTrack() for _ in range(channels)]
        self._pending_ref = np.zeros((channels, 0))
        self._pending_est = np.zeros((channels, 0))

    def push(self, ref: np.ndarray, est: np.ndarray) -> None:
        self._pending_ref = np.concatenate([self._pending_ref, ref], axis=1)
        self._pending_est = np.concatenate([self._pending_est, est], axis=1)
        m = min(self._pending_ref.shape[1], self._pending_est.shape[1])
        if m:
            self._consume(self._pending_ref[:, :m], self._pending_est[:, :m])
            self._pending_ref, self._pending_est = self._pending_ref[:, m:], self._pending_est[:, m:]

    def _consume(self, r: np.ndarray, e: np.ndarray, last: bool = False) -> None:
        self.n += r.shape[1]
        self._sums += np.stack([r.sum(1), e.sum(1), (r * r).sum(1), (e * e).sum(1), (r * e).sum(1)])
        self._lsd16(self._rs_ref.push(r, last), self._rs_est.push(e, last))

    def _lsd16(self, r16: np.ndarray, e16: np.ndarray) -> None:
        for c, t in enumerate(self._lsd):
            t.add(t.ref.push(r16[c]), t.est.push(e16[c]))

    def result(self) -> dict[str, float]:
        if self._pending_ref.shape[1] or self._pending_est.shape[1]:
            raise ValueError("reference and estimate differ in length")
        self._lsd16(self._rs_ref.push(np.zeros((self.channels, 0)), True),
                    self._rs_est.push(np.zeros((self.channels, 0)), True))
        sdr, lsd = [], []
        for c, t in enumerate(self._lsd):
            sr, se, srr, see, sre = self._sums[:, c]
            n = max(self.n, 1)
            rr, ee, re = srr - sr * sr / n, see - se * se / n, sre - sr * se / n  # zero-mean first
            alpha = re / max(rr, EPS)
            target = alpha * alpha * rr
            noise = max(ee - 2 * alpha * re + alpha * alpha * rr, 0.0)
            sdr.append(10.0 * np.log10(max(target, EPS) / max(noise, EPS)))
            n16 = max(t.ref.n_samples, t.est.n_samples)
            frames = 1 + n16 // LSD_HOP
            t.add(t.ref.finish(frames), t.est.finish(frames))
            lsd.append(t.total / max(t.frames, 1))
        return {"si_sdr": float(np.mean(sdr)), "lsd": float(np.mean(lsd)),
                "estimate_silent": bool(np.all(self._sums[3] == 0.0))}
