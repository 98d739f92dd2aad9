import numpy as np
import pytest


def harmonic_tone(sr: int, seconds: float, seed: int = 0) -> np.ndarray:
    """A stepped melody with 7 harmonics, vibrato-free tremolo and a little noise."""
    t = np.arange(int(sr * seconds)) / sr
    f0 = 330 * 2 ** (np.floor(t * 4) % 8 / 12)
    ph = 2 * np.pi * np.cumsum(f0) / sr
    x = sum(np.sin(k * ph) / k for k in range(1, 8)) * (1 + 0.3 * np.sin(2 * np.pi * 5 * t)) * 0.15
    return x + 0.003 * np.random.default_rng(seed).standard_normal(len(t))


@pytest.fixture
def tone():
    return harmonic_tone
