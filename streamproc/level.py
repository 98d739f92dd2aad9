"""Input level for the models: every file reaches them as loud as the audio they trained on.

The models read log-mel images on an absolute dB scale, and they were trained on renderings
peaking at -24..-1 dBFS over a noise floor of -75..-45 dBFS (``models.recording``). A recording
that peaks far lower looks to them like that noise floor: at -50 dBFS peak ``pitch`` loses a
third of its accuracy and ``superres`` doubles its LSD80. Within the training range the level
still counts: a file at 0 dBFS separates worse than the same file 12 dB down, and its upper band
is further off (``python -m bench.level``).

Offline, the whole file is known before its first block. ``level="auto"`` multiplies a file by
the one gain that brings its loudness (:class:`LevelMeter`: the 90th percentile of its 10 ms
frames' RMS, so that the clicks on a quiet transfer do not count) to
:data:`TARGET_LOUDNESS_DBFS`, where the training renderings sit when they peak at -12 dBFS, and
divides the output by the same gain, so the output keeps the input's level. One constant gain
per file keeps every engine rule: block-size invariance, exact latency, determinism. Streaming
hosts (``Processor``, ``live``) see one block at a time and cannot know a file's loudness: they
process what they are given.
"""
from __future__ import annotations

import math

import numpy as np

FRAME_SECONDS = 0.01         # loudness frames: a click fills one
LOUD_PERCENTILE = 90.0       # of the frames' RMS: the loud passages, not clicks (up to some 10 a second)
TARGET_LOUDNESS_DBFS = -23.5  # test-split renderings peaking at -12 dBFS: 90th percentile of frame RMS -23.5 +- 1-2 dB
MAX_PEAK_DBFS = 12.0         # a gain never takes the peak above this (the engine runs in float; features clip at +20)
MAX_GAIN_DB = 60.0           # never more either way
TRAINED_PEAK_DBFS = (-24.0, -1.0)   # the training renderings' peaks (models.recording.PEAK_DBFS)
LEVELS = ("auto", "off")


class LevelMeter:
    """A file's peak and loudness, block by block in constant memory per frame (block sizes do
    not change the result). ``push`` takes (channels, n) blocks; channels count together."""

    def __init__(self, rate: int) -> None:
        self.frame = max(1, int(round(rate * FRAME_SECONDS)))
        self.peak = 0.0
        self._rest = np.zeros(0)
        self._frames: list[np.ndarray] = []

    def push(self, x: np.ndarray) -> None:
        if x.size == 0:
            return
        self.peak = max(self.peak, float(np.abs(x).max()))
        sq = np.concatenate([self._rest, np.mean(np.square(x), axis=0)])
        whole = len(sq) // self.frame * self.frame
        if whole:
            self._frames.append(sq[:whole].reshape(-1, self.frame).mean(axis=1))
        self._rest = sq[whole:]

    @property
    def loudness_dbfs(self) -> float:
        """The 90th percentile of the 10 ms frames' RMS in dBFS (a file shorter than one frame:
        its own RMS); -inf for silence."""
        ms = np.concatenate(self._frames) if self._frames else np.array([self._rest.mean() if len(self._rest) else 0.0])
        value = float(np.percentile(ms, LOUD_PERCENTILE))
        return 10.0 * math.log10(value) if value > 0.0 else -math.inf


def check_level(level: str) -> str:
    """``level`` if it is one of :data:`LEVELS`; ValueError otherwise."""
    if level not in LEVELS:
        raise ValueError(f"level must be one of {', '.join(LEVELS)}, got {level!r}")
    return level


def level_gain_db(peak: float, loudness_dbfs: float, level: str = "auto") -> float:
    """The gain in dB that ``level`` applies to a file of this ``peak`` (largest absolute sample,
    full scale 1.0) and loudness (:class:`LevelMeter`): the one that brings the loudness to
    :data:`TARGET_LOUDNESS_DBFS`, no higher than puts the peak at :data:`MAX_PEAK_DBFS`, within
    ±:data:`MAX_GAIN_DB`; 0 for ``off`` and for a silent file."""
    if check_level(level) == "off" or not peak > 0.0 or not math.isfinite(loudness_dbfs):
        return 0.0
    gain = min(TARGET_LOUDNESS_DBFS - loudness_dbfs, MAX_PEAK_DBFS - 20.0 * math.log10(peak))
    return min(MAX_GAIN_DB, max(-MAX_GAIN_DB, gain))


def below_training(peak: float) -> bool:
    """Whether a file peaks below every training rendering (where ``off`` costs most)."""
    return not peak > 0.0 or 20.0 * math.log10(peak) < TRAINED_PEAK_DBFS[0]
