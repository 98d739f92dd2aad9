"""Instruments that no soundfont holds: additive timbres drawn at random, for training data.

The three training soundfonts hold two distinct violins and a handful of pianos, so a net
trained on them alone learns those few spectra. With ``models.data --synth-timbres SHARE`` a
share of separation pairs gets its melody, its accompaniment or both from this additive
synthesiser, its timbre drawn per take: spectral slope, broad resonances fixed in frequency
(a body), odd/even balance, inharmonicity, attack, decay, release, breath noise. What is left
for the net to learn is what the task means: the sustained, bent, swelling melody line
against the struck chords, whatever either sounds like.

``AdditiveRenderer.render`` takes what ``models.render.FluidRenderer.render`` takes (a note
list and the block-held pitch-bend and CC11 curves), so performances, stems and the labels
taken from a stem's audio work for it unchanged. Every draw comes from the generator passed in.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .render import BLOCK, SAMPLE_RATE, Controls

KINDS = ("sustained", "struck")  # a melody instrument (bowed, blown), an accompaniment (struck, plucked)
MAX_HARMONICS = 40
TOP_HZ = 7600.0                  # below 16 kHz's Nyquist with room for the vibrato


@dataclass(frozen=True)
class Timbre:
    """One instrument: harmonic k of a note at f0 sounds at k f0 sqrt(1 + B k^2), at
    ``-slope_db_oct log2 k`` dB plus the resonances at its frequency, even harmonics lowered by
    ``even_db``; struck notes decay (``decay_s`` at 100 Hz, shorter for higher partials)."""

    kind: str
    slope_db_oct: float
    resonances: tuple[tuple[float, float, float], ...]  # (centre Hz, width in octaves, gain dB)
    even_db: float
    inharmonicity: float
    attack_s: float
    release_s: float
    decay_s: float          # struck only (0 for sustained)
    noise_db: float         # breath or bow noise against the harmonics (-120: none)

    @staticmethod
    def random(rng: np.random.Generator, kind: str) -> "Timbre":
        if kind not in KINDS:
            raise ValueError(f"unknown timbre kind {kind!r} (choose from {', '.join(KINDS)})")
        res = tuple((float(np.exp(rng.uniform(np.log(250.0), np.log(5000.0)))), float(rng.uniform(0.3, 1.5)),
                     float(rng.uniform(-6.0, 15.0))) for _ in range(int(rng.integers(0, 4))))
        struck = kind == "struck"
        return Timbre(  # drawn in this order (keyword arguments evaluate left to right)
            kind=kind,
            slope_db_oct=float(rng.uniform(2.0, 9.0) if struck else rng.uniform(1.0, 12.0)),
            resonances=res,
            even_db=float(rng.uniform(0.0, 20.0) if rng.random() < 0.3 else rng.uniform(-3.0, 3.0)),  # clarinet-like
            inharmonicity=float(10.0 ** rng.uniform(-5.0, -3.0)) if struck else 0.0,
            attack_s=float(rng.uniform(0.001, 0.008) if struck else rng.uniform(0.02, 0.2)),
            release_s=float(rng.uniform(0.05, 0.4) if struck else rng.uniform(0.03, 0.3)),
            decay_s=float(rng.uniform(0.5, 4.0)) if struck else 0.0,
            noise_db=-120.0 if struck or rng.random() < 0.3 else float(rng.uniform(-40.0, -20.0)))

    def gains(self, f0: float, k: np.ndarray) -> np.ndarray:
        """Linear amplitude of harmonics ``k`` of a note at ``f0`` (Hz)."""
        f = k * f0
        db = -self.slope_db_oct * np.log2(k) - np.where(k % 2 == 0, self.even_db, 0.0)
        for centre, width, gain in self.resonances:
            db = db + gain * np.exp(-0.5 * (np.log2(f / centre) / (width / 2.0)) ** 2)
        return 10.0 ** (db / 20.0)


class AdditiveRenderer:
    """Renders note lists at 16 kHz with one drawn ``Timbre``; the counterpart of
    ``models.render.FluidRenderer`` (same call), for instruments outside every soundfont."""

    def __init__(self, timbre: Timbre, seed: int = 0, sample_rate: int = SAMPLE_RATE) -> None:
        self.timbre = timbre
        self.seed = seed
        self.sample_rate = sample_rate

    def render(self, notes: np.ndarray, program: int, n_samples: int, bend_cents: float = 0.0,
               controls: Controls | None = None) -> np.ndarray:
        """notes (n, 4): start_s, end_s, midi, velocity -> mono float32 of n_samples; ``program``
        is ignored (the timbre is the instrument); the curves are held per block as FluidSynth holds them."""
        sr, tb = self.sample_rate, self.timbre
        rng = np.random.default_rng(self.seed)
        total = -(-n_samples // BLOCK) * BLOCK
        bend = np.full(total, bend_cents, np.float64)
        gain = np.ones(total)
        if controls is not None:
            nb = min(len(controls.bend_cents), total // BLOCK)
            bend[:nb * BLOCK] += np.repeat(controls.bend_cents[:nb], BLOCK)
            gain[:nb * BLOCK] = np.repeat(np.clip(controls.expression[:nb], 0, 127) / 127.0, BLOCK) ** 2
        out = np.zeros(total)
        envelope_sum = np.zeros(total)
        for s, e, m, v in np.asarray(notes, np.float64).reshape(-1, 4):
            a = int(round(s * sr / BLOCK)) * BLOCK
            off = max(int(round(e * sr / BLOCK)) * BLOCK, a + BLOCK)
            if a >= total:
                continue
            f0_nominal = 440.0 * 2.0 ** ((m - 69.0) / 12.0)
            tail = tb.release_s * 7.0
            if tb.kind == "struck":  # a struck note is gone after its own decay, key held or not
                tail_end = min(off + int(tail * sr), a + int(tb.decay_s * (100.0 / f0_nominal) ** 0.5 * 7.0 * sr))
            else:
                tail_end = off + int(tail * sr)
            b = min(total, max(tail_end, a + BLOCK))
            t = np.arange(b - a) / sr
            f0 = f0_nominal * 2.0 ** (bend[a:b] / 1200.0)
            k = np.arange(1, MAX_HARMONICS + 1, dtype=np.float64)
            stretch = np.sqrt(1.0 + tb.inharmonicity * k * k)
            below = k * stretch * f0.max() < TOP_HZ
            k, stretch = k[below], stretch[below]
            if not len(k):
                continue
            g = tb.gains(f0_nominal, k)
            phase = 2.0 * np.pi * np.cumsum(f0) / sr
            start = rng.uniform(0, 2 * np.pi, (len(k), 1))
            partials = np.sin((np.outer(k * stretch, phase) + start).astype(np.float32))  # float32: half the time
            if tb.kind == "struck":
                tau = tb.decay_s * (100.0 / (k * f0_nominal)) ** 0.5  # higher partials die sooner
                partials *= np.exp(-np.outer(1.0 / tau, t).astype(np.float32))
            env = np.minimum(1.0, t / tb.attack_s)
            rel = np.arange(b - a) >= off - a
            env[rel] *= np.exp(-(t[rel] - (off - a) / sr) / tb.release_s)
            level = (max(v, 1.0) / 127.0) ** 1.5
            out[a:b] += level * env * (g.astype(np.float32) @ partials) / np.sqrt(np.sum(g * g))
            envelope_sum[a:b] += level * env
        if tb.noise_db > -120.0:  # breath or bow noise: a band of noise that follows the notes
            from scipy.signal import butter, sosfilt

            centre = float(rng.uniform(1000.0, 5000.0))
            sos = butter(2, [centre / 1.6, min(centre * 1.6, 7900.0)], btype="band", fs=sr, output="sos")
            out += 10.0 ** (tb.noise_db / 20.0) * envelope_sum * sosfilt(sos, rng.standard_normal(total))
        return (0.3 * out * gain)[:n_samples].astype(np.float32)


def random_renderer(rng: np.random.Generator, kind: str) -> AdditiveRenderer:
    """A renderer with a freshly drawn ``kind`` timbre (and its own noise seed)."""
    return AdditiveRenderer(Timbre.random(rng, kind), int(rng.integers(2 ** 31)))
