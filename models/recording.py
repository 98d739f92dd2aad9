"""What a recording does to a performance: room, microphone/EQ colour, noise floor, level,
and the low-rate paths that real lo-fi audio comes through (for super-resolution pairs).

Every function draws from the ``numpy.random.Generator`` it is given, and everything that
must act alike on several stems (a room, an EQ) is drawn once as an object and then applied
to each stem, so a separation target stays exactly the violin's share of the mix.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .render import SAMPLE_RATE

EQ_DB = 6.0                     # random EQ stays within +-6 dB
NOISE_DBFS = (-75.0, -45.0)     # noise floor (RMS, dB re full scale)
PEAK_DBFS = (-24.0, -1.0)


# ------------------------------------------------------------------ EQ

@dataclass
class Eq:
    """A smooth random EQ: a tilt and up to three broad peaks/dips on a log-frequency axis,
    clipped to +-``limit`` dB; applied zero-phase in the frequency domain."""

    tilt_db: float                       # gain at 8 kHz relative to 1 kHz... per 3 octaves
    peaks: list[tuple[float, float, float]] = field(default_factory=list)  # (centre Hz, gain dB, width octaves)
    limit: float = EQ_DB

    @classmethod
    def random(cls, rng: np.random.Generator, limit: float = EQ_DB) -> "Eq":
        peaks = [(float(np.exp(rng.uniform(np.log(100.0), np.log(7000.0)))), float(rng.uniform(-limit, limit)),
                  float(rng.uniform(0.5, 2.0))) for _ in range(int(rng.integers(0, 4)))]
        return cls(float(rng.uniform(-limit, limit)), peaks, limit)

    def gain_db(self, freqs: np.ndarray) -> np.ndarray:
        lf = np.log2(np.maximum(freqs, 20.0) / 1000.0)
        g = self.tilt_db * lf / 3.0
        for fc, gdb, w in self.peaks:
            g = g + gdb * np.exp(-0.5 * ((lf - np.log2(fc / 1000.0)) / (w / 2.0)) ** 2)
        return np.clip(g, -self.limit, self.limit)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        if n == 0:
            return np.asarray(x, np.float64)
        spec = np.fft.rfft(x)
        spec *= 10.0 ** (self.gain_db(np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)) / 20.0)
        return np.fft.irfft(spec, n)


# ------------------------------------------------------------------ rooms

class PlateRoom:
    """pedalboard's Freeverb-style reverb (one character)."""

    kind = "freeverb"

    def __init__(self, rng: np.random.Generator) -> None:
        import pedalboard

        self.fx = pedalboard.Reverb(room_size=float(rng.uniform(0.1, 0.8)), damping=float(rng.uniform(0.2, 0.8)),
                                    wet_level=float(rng.uniform(0.05, 0.35)), dry_level=float(rng.uniform(0.7, 1.0)),
                                    width=0.0)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        self.fx.reset()
        return np.asarray(self.fx(np.asarray(x, np.float32), SAMPLE_RATE, reset=True), np.float64)


class ImpulseRoom:
    """Convolution with a synthetic impulse response: direct sound, a few early reflections
    (2-40 ms) and a diffuse tail of noise decaying with a frequency-dependent RT60 (highs die
    first), at a random direct-to-reverberant ratio. ``size`` 'small' (RT60 0.15-0.5 s) or
    'hall' (0.8-2.2 s): two more characters beside the plate."""

    def __init__(self, rng: np.random.Generator, size: str) -> None:
        self.kind = f"ir-{size}"
        rt_low = rng.uniform(0.15, 0.5) if size == "small" else rng.uniform(0.8, 2.2)
        n = int(rt_low * 1.1 * SAMPLE_RATE)
        t = np.arange(n) / SAMPLE_RATE
        pre = int(rng.uniform(0.002, 0.02 if size == "small" else 0.04) * SAMPLE_RATE)
        noise = np.fft.rfft(rng.standard_normal(n))
        freqs = np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE)
        tail = np.zeros(n)
        edges = [0.0, 500.0, 2000.0, 8001.0]
        for i, ratio in enumerate((1.0, rng.uniform(0.6, 0.9), rng.uniform(0.3, 0.6))):
            band = np.fft.irfft(np.where((freqs >= edges[i]) & (freqs < edges[i + 1]), noise, 0), n)
            tail += band * np.exp(-6.9 * t / (rt_low * ratio))
        tail[:pre] = 0.0
        for _ in range(int(rng.integers(3, 10))):
            k = int(rng.uniform(0.002, 0.04) * SAMPLE_RATE)
            if k < n:
                tail[k] += rng.uniform(0.1, 0.6) * rng.choice([-1.0, 1.0])
        drr_db = rng.uniform(-3.0, 12.0) if size == "small" else rng.uniform(-6.0, 8.0)
        tail *= 10.0 ** (-drr_db / 20.0) / max(float(np.sqrt(np.sum(tail ** 2))), 1e-9)
        tail[0] += 1.0
        self.ir = tail

    def __call__(self, x: np.ndarray) -> np.ndarray:
        from scipy.signal import fftconvolve

        return fftconvolve(np.asarray(x, np.float64), self.ir)[:len(x)]


ROOMS = {"dry": 0.3, "freeverb": 0.3, "ir-small": 0.2, "ir-hall": 0.2}


def random_room(rng: np.random.Generator):
    """A room (callable on a stem) or None for dry, drawn with the weights of ``ROOMS``."""
    kind = str(rng.choice(list(ROOMS), p=list(ROOMS.values())))
    if kind == "dry":
        return None
    if kind == "freeverb":
        return PlateRoom(rng)
    return ImpulseRoom(rng, kind.split("-")[1])


def room_name(room) -> str:
    return "dry" if room is None else room.kind


def apply(fx, x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float64) if fx is None else fx(x)


# ------------------------------------------------------------------ level and noise

def peak_gain(x: np.ndarray, rng: np.random.Generator, dbfs: tuple[float, float] = PEAK_DBFS) -> float:
    """Gain that puts the peak of x at a random level in ``dbfs``."""
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    return 0.0 if peak < 1e-6 else 10.0 ** (rng.uniform(*dbfs) / 20.0) / peak


def noise_floor(n: int, rng: np.random.Generator, dbfs: tuple[float, float] = NOISE_DBFS) -> tuple[np.ndarray, dict]:
    """A recording's noise floor at an RMS level in ``dbfs``: white, pink or brown hiss, and
    on a quarter of them mains hum (50 or 60 Hz and harmonics) on top."""
    colour = str(rng.choice(["white", "pink", "brown"]))
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.maximum(np.fft.rfftfreq(n, 1.0 / SAMPLE_RATE), 20.0)
    spec *= {"white": 1.0, "pink": f ** -0.5, "brown": f ** -1.0}[colour]
    x = np.fft.irfft(spec, n)
    hum = rng.random() < 0.25
    if hum:
        t = np.arange(n) / SAMPLE_RATE
        f0 = float(rng.choice([50.0, 60.0]))
        x = x / max(float(np.std(x)), 1e-12) + sum(rng.uniform(0.5, 3.0) / h * np.sin(2 * np.pi * f0 * h * t + rng.uniform(0, 6.3))
                                                   for h in range(1, 6))
    level = rng.uniform(*dbfs)
    x *= 10.0 ** (level / 20.0) / max(float(np.sqrt(np.mean(x ** 2))), 1e-12)
    return x, {"noise_dbfs": round(float(level), 1), "noise": colour + ("+hum" if hum else "")}


# ------------------------------------------------------------------ low-rate paths (super-resolution inputs)

def _fit(y: np.ndarray, n: int) -> np.ndarray:
    y = np.asarray(y, np.float64)[:n]
    return np.pad(y, (0, n - len(y)))


def _up(y: np.ndarray, rate: int, n: int, how: str) -> np.ndarray:
    """Back to 16 kHz: soxr HQ (what streamproc does with a low-rate file), polyphase, or linear."""
    if how == "soxr":
        import soxr

        return _fit(soxr.resample(y, rate, SAMPLE_RATE, quality="HQ"), n)
    if how == "poly":
        from fractions import Fraction

        from scipy.signal import resample_poly

        fr = Fraction(SAMPLE_RATE, rate).limit_denominator(100)
        return _fit(resample_poly(y, fr.numerator, fr.denominator), n)
    return np.interp(np.arange(n) / SAMPLE_RATE, np.arange(len(y)) / rate, y)


def _mu_law(y: np.ndarray, bits: int = 8, mu: float = 255.0) -> np.ndarray:
    peak = max(float(np.max(np.abs(y))), 1e-9)
    v = y / peak
    c = np.sign(v) * np.log1p(mu * np.abs(v)) / np.log1p(mu)
    q = np.round(c * (2 ** (bits - 1) - 1)) / (2 ** (bits - 1) - 1)
    return peak * np.sign(q) * ((1 + mu) ** np.abs(q) - 1) / mu


def _linear_8bit(y: np.ndarray) -> np.ndarray:
    peak = max(float(np.max(np.abs(y))), 1e-9)
    return np.round(y / peak * 127) / 127 * peak


LOW_RATES = (3600, 4000, 4000, 4410, 4800)   # Nyquist 1.8-2.4 kHz: cutoffs around 2 kHz
PATHS = {"soxr": 0.4, "poly": 0.2, "decimate": 0.2, "telephone": 0.2}


def low_rate_path(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict]:
    """x (16 kHz) as it would reach us through a real low-rate path, back at 16 kHz (same length):

    - ``soxr``: to a low rate and back, soxr quality VHQ / HQ / MQ / LQ / QQ;
    - ``poly``: scipy's polyphase resampler (Kaiser window) both ways;
    - ``decimate``: a plain Butterworth low-pass (order 2-8, cutoff 1.7-2.4 kHz, some aliasing
      left) and every 4th sample kept, back by soxr, polyphase or linear interpolation;
    - ``telephone``: a 200-400 Hz high-pass, to 4-4.8 kHz, 8-bit mu-law or 8-bit linear
      quantisation, back by soxr.
    """
    import soxr
    from scipy.signal import butter, resample_poly, sosfilt

    n = len(x)
    kind = str(rng.choice(list(PATHS), p=list(PATHS.values())))
    info: dict = {"path": kind}
    if kind == "soxr":
        rate = int(rng.choice(LOW_RATES))
        q = str(rng.choice(["VHQ", "HQ", "HQ", "MQ", "LQ", "QQ"]))
        y = soxr.resample(x, SAMPLE_RATE, rate, quality=q)
        out = _fit(soxr.resample(y, rate, SAMPLE_RATE, quality=q), n)
        info.update(rate=rate, quality=q)
    elif kind == "poly":
        up, down = [(1, 4), (3, 10), (9, 40), (2, 7)][int(rng.integers(4))]
        rate = SAMPLE_RATE * up // down
        out = _fit(resample_poly(resample_poly(x, up, down), down, up), n)
        info.update(rate=rate)
    elif kind == "decimate":
        order, fc = int(rng.integers(2, 9)), float(rng.uniform(1700.0, 2400.0))
        y = sosfilt(butter(order, fc, fs=SAMPLE_RATE, output="sos"), x)[::4]
        how = str(rng.choice(["soxr", "poly", "linear"]))
        out = _up(y, SAMPLE_RATE // 4, n, how)
        info.update(rate=SAMPLE_RATE // 4, order=order, cutoff=round(fc), up=how)
    else:
        hp = float(rng.uniform(200.0, 400.0))
        y = sosfilt(butter(2, hp, btype="highpass", fs=SAMPLE_RATE, output="sos"), x)
        rate = int(rng.choice([4000, 4410, 4800]))
        y = soxr.resample(y, SAMPLE_RATE, rate, quality="HQ")
        quant = str(rng.choice(["mu-law", "8-bit"]))
        y = _mu_law(y) if quant == "mu-law" else _linear_8bit(y)
        out = _up(y, rate, n, "soxr")
        info.update(rate=rate, highpass=round(hp), quantise=quant)
    return out, info
