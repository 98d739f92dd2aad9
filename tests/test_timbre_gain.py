"""bench.timbre_eval's level-aside distance: a quieter copy of the reference is at distance
zero after its best gain, which recovers the level it lost; a different timbre is not."""
from __future__ import annotations

import numpy as np

from bench.quality import log_mel_l1_db
from bench.timbre_eval import best_gain_l1


def _tone(partials: list[float], sr: int = 16000, seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return 0.3 * sum(a * np.sin(2 * np.pi * 440.0 * (k + 1) * t) for k, a in enumerate(partials))


def test_a_quieter_copy_is_at_zero_distance_and_its_gain_is_found():
    ref = _tone([1.0, 0.5, 0.25])
    est = ref * 10.0 ** (-6.0 / 20.0)
    assert log_mel_l1_db(ref, est) > 2.0  # less than 6: pixels at the image's floor stay there
    l1, gain = best_gain_l1(ref, est)
    assert abs(gain - 6.0) < 0.15
    assert l1 < 0.5


def test_another_timbre_keeps_a_distance_at_any_gain():
    ref, other = _tone([1.0, 0.5, 0.25]), _tone([1.0, 0.0, 0.0, 0.6])
    l1, _ = best_gain_l1(ref, other)
    assert l1 > 1.0
    assert l1 <= log_mel_l1_db(ref, other) + 1e-9
