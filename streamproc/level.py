"""Input level for the models: a quiet file is lifted into the level range they trained on.

The models read log-mel images on an absolute dB scale, and they were trained on renderings
peaking at -24..-1 dBFS over a noise floor of -75..-45 dBFS (``models.recording``). A recording
that peaks far lower looks to them like that noise floor. At -50 dBFS peak, ``pitch`` loses a
fifth of its overall accuracy and ``separate`` about 1 dB SI-SDR; at -60 dBFS, far more
(``python -m bench.level``).

Offline, the whole file is known before the first block. ``level="auto"`` multiplies a file
whose peak lies below :data:`LIFT_TO_DBFS` by the one gain that brings its peak there, and
divides the output by the same gain, so the output keeps the input's level. A file already
peaking above it is not touched. One constant gain per file keeps every engine rule: block-size
invariance, exact latency, determinism. Streaming hosts (``Processor``, ``live``) see one block
at a time and cannot know a file's peak: they process what they are given.
"""
from __future__ import annotations

import math

LIFT_TO_DBFS = -20.0   # a quiet file's peak is brought up to this (inside the training range)
MAX_LIFT_DB = 60.0     # never more: below -80 dBFS peak there is little but dither to lift
LEVELS = ("auto", "off")


def check_level(level: str) -> str:
    """``level`` if it is one of :data:`LEVELS`; ValueError otherwise."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    return level


def lift_db(peak: float, level: str = "auto") -> float:
    """The gain in dB (>= 0) that ``level`` applies to a file whose largest absolute sample is
    ``peak`` (full scale 1.0): 0 for ``off``, a silent file, or one peaking at
    :data:`LIFT_TO_DBFS` or above; at most :data:`MAX_LIFT_DB`."""
    if check_level(level) == "off" or not peak > 0.0:
        return 0.0
    return min(MAX_LIFT_DB, max(0.0, LIFT_TO_DBFS - 20.0 * math.log10(peak)))
