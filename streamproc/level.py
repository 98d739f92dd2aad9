"""Input level for the models: every file reaches them peaking at the level they do best at.

The models read log-mel images on an absolute dB scale, and they were trained on renderings
peaking at -24..-1 dBFS over a noise floor of -75..-45 dBFS (``models.recording``). A recording
that peaks far lower looks to them like that noise floor: at -50 dBFS peak ``pitch`` loses a
third of its accuracy and ``superres`` doubles its LSD80. Within the training range the level
still counts: a file at 0 dBFS separates 0.1-0.5 dB worse than the same file at -12, and its
upper band is further off (``python -m bench.level``).

Offline, the whole file is known before its first block. ``level="auto"`` multiplies a file by
the one gain that brings its peak to :data:`TARGET_PEAK_DBFS` and divides the output by the same
gain, so the output keeps the input's level. One constant gain per file keeps every engine rule:
block-size invariance, exact latency, determinism. Streaming hosts (``Processor``, ``live``)
see one block at a time and cannot know a file's peak: they process what they are given.
"""
from __future__ import annotations

import math

TARGET_PEAK_DBFS = -12.0   # where a file's peak is brought (bench.level: each task at or near its best)
TRAINED_PEAK_DBFS = (-24.0, -1.0)   # the training renderings' peaks (models.recording.PEAK_DBFS)
MAX_GAIN_DB = 60.0         # never more either way: below -72 dBFS peak there is little but dither
LEVELS = ("auto", "off")


def check_level(level: str) -> str:
    """``level`` if it is one of :data:`LEVELS`; ValueError otherwise."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    return level


def level_gain_db(peak: float, level: str = "auto") -> float:
    """The gain in dB that ``level`` applies to a file whose largest absolute sample is ``peak``
    (full scale 1.0): the one that brings it to :data:`TARGET_PEAK_DBFS`, within
    ±:data:`MAX_GAIN_DB`; 0 for ``off`` and for a silent file."""
    if check_level(level) == "off" or not peak > 0.0:
        return 0.0
    return min(MAX_GAIN_DB, max(-MAX_GAIN_DB, TARGET_PEAK_DBFS - 20.0 * math.log10(peak)))


def below_training(peak: float) -> bool:
    """Whether a file peaks below every training rendering (where ``off`` costs most)."""
    return not peak > 0.0 or 20.0 * math.log10(peak) < TRAINED_PEAK_DBFS[0]
