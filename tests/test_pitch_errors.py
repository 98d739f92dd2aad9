"""bench.pitch_errors: which raw-pitch errors are octaves, which lie at note changes."""
import numpy as np

from bench.pitch_errors import classify_errors


def test_errors_are_put_in_one_class_each():
    ref = np.r_[np.full(50, 440.0), np.full(50, 494.0), np.zeros(10), np.full(40, 330.0)]
    est = ref.copy()
    est[50:53] = 440.0        # the change at frame 50 seen 3 frames late
    est[47:49] = 494.0        # and 2 frames of the next note early, before it
    est[70:75] = 247.0        # an octave below, away from any change
    est[90] = 600.0           # wrong by several semitones, 100 ms from any change
    est[110:112] = -330.0     # an unvoiced guess of the right pitch counts as right
    c = classify_errors(ref, est, 0.01, near_ms=50.0)
    assert c["voiced"] == 140 and c["wrong"] == 3 + 2 + 5 + 1
    assert (c["octave"], c["transition"], c["other"]) == (5, 5, 1)
    assert (c["transition_late"], c["transition_early"]) == (3, 2)
