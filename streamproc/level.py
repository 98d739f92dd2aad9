"""Input level for the models: every file reaches them as loud as the audio they trained on.

The models read log-mel images on an absolute dB scale, and they were trained on renderings
peaking at -24..-1 dBFS over a noise floor of -75..-45 dBFS (``models.recording``). A recording
that peaks far lower looks to them like that noise floor: at -50 dBFS peak ``pitch`` loses a
third of its accuracy and ``superres`` doubles its LSD80. Within the training range the level
still counts: a file at 0 dBFS separates worse than the same file 12 dB down, and its upper band
is further off (``python -m bench.level``).

Offline, the whole file is known before its first block. ``level="auto"`` first removes the
file's DC offset (each channel's mean: a cheap converter's or an old transfer's, which the models
take for low-frequency content; 0.05 of it cost ``separate`` 2.8-6 dB SI-SDR). Then it multiplies
the file by the one gain that brings its loudness (:class:`LevelMeter`: the 90th percentile of
its 10 ms frames' RMS, so that the clicks on a quiet transfer do not count) to
:data:`TARGET_LOUDNESS_DBFS`, where the training renderings sit when they peak at -12 dBFS, and
divides the output by the same gain: the output keeps the input's level, less its DC offset. One
constant gain per file keeps every engine rule: block-size invariance, exact latency,
determinism.

Streaming hosts (``Processor``, ``live``) see one block at a time. There :class:`LevelFollower`
works causally, frame by frame, and only on the images the models read: each is taken without
the offset estimated so far, at the gain that brings the loudness of the last 10 s to the same
target; the stages that turn images into magnitudes divide by that gain. ``auto`` is their
default where it measured better (``spec.Profile.level_tasks``).
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
    """A file's DC offset, peak and loudness, block by block in constant memory per frame (block
    sizes do not change the result). ``push`` takes (channels, n) blocks. Peak and loudness are
    those of the file without its DC offset: each frame's RMS is taken about its own mean, and
    the peak about the file's."""

    def __init__(self, rate: int, channels: int) -> None:
        self.frame = max(1, int(round(rate * FRAME_SECONDS)))
        self._n = 0
        self._sum = np.zeros(channels)
        self._max, self._min = np.full(channels, -np.inf), np.full(channels, np.inf)
        self._rest = np.zeros((channels, 0))
        self._frames: list[np.ndarray] = []

    def push(self, x: np.ndarray) -> None:
        """A (channels, n) block, the next ``n`` samples of the file."""
        if x.size == 0:
            return
        x = np.ascontiguousarray(x)   # readers hand out (samples, channels) data transposed: reduce along rows
        self._n += x.shape[1]
        self._sum += x.sum(axis=1)
        self._max, self._min = np.maximum(self._max, x.max(axis=1)), np.minimum(self._min, x.min(axis=1))
        y = np.concatenate([self._rest, x], axis=1)
        whole = y.shape[1] // self.frame * self.frame
        if whole:
            frames = y[:, :whole].reshape(len(y), -1, self.frame)
            self._frames.append(frames.var(axis=2).mean(axis=0))   # about each frame's own mean
        self._rest = y[:, whole:]

    @property
    def dc(self) -> np.ndarray:
        """Each channel's mean (its DC offset); empty before the first block."""
        return self._sum / max(self._n, 1)

    @property
    def peak(self) -> float:
        """The largest absolute sample of the file less its DC offset, over every channel."""
        if self._n == 0:
            return 0.0
        dc = self.dc
        return float(np.max(np.maximum(self._max - dc, dc - self._min)))

    @property
    def loudness_dbfs(self) -> float:
        """The 90th percentile of the 10 ms frames' RMS in dBFS (a file shorter than one frame:
        its own RMS); -inf for silence."""
        if self._frames:
            ms = np.concatenate(self._frames)
        else:
            ms = np.array([self._rest.var(axis=1).mean() if self._rest.size else 0.0])
        value = float(np.percentile(ms, LOUD_PERCENTILE))
        return 10.0 * math.log10(value) if value > 0.0 else -math.inf


def streaming_level(task: str, auto_tasks: tuple[str, ...], level: str | None = None) -> str:
    """The level a streaming host (``Processor``, ``live``) runs ``task`` at: ``level`` if given,
    else ``auto`` for the tasks its profile names (``spec.Profile.level_tasks``), ``off`` for the rest."""
    if level is not None:
        return check_level(level)
    return "auto" if task in auto_tasks else "off"


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


def below_training(peak_dbfs: float) -> bool:
    """Whether a file peaks below every training rendering (where ``off`` costs most)."""
    return peak_dbfs < TRAINED_PEAK_DBFS[0]


# ----------------------------------------------------------------------------- streaming

FOLLOW_SECONDS = 10.0        # the loudness a streaming host follows: its frames' over the last this many seconds
DC_SECONDS = 1.0             # the DC offset: the mean of the frames' means over up to this long
SILENT_DBFS = -110.0         # frames quieter than this (digital silence, dither) do not count
_BIN_DB = 0.25               # the loudness histogram's resolution
_LOW_DB, _HIGH_DB = -120.0, 20.0


class LevelFollower:
    """What ``level="auto"`` does for a streaming host, causally, frame by frame: each STFT
    frame's image is taken without the DC offset estimated so far, and lifted or lowered by
    the gain that brings the loudness of the last :data:`FOLLOW_SECONDS` to the models'
    target. Only the images the models read change; the stages that turn images into
    magnitudes take the gain back out (``stages.at_input_level``), so the output keeps the
    input's level and a mask still acts on the input's own spectrum.

    Each frame's gain and offset depend only on the frames before and including it, so they
    do not depend on block sizes. The loudness is the 90th percentile of the frames' RMS, as
    :class:`LevelMeter` takes it over a file; these frames are longer (the STFT's window, not
    10 ms), which moves it by 0.05 dB on the bundled examples (:data:`STFT_LOUDNESS_OFFSET_DB`).
    The gain applies from the first frame, with no ramp, so a stream at any constant level
    gives the same images (to the histogram's 0.25 dB): a ramp from 0 dB left the first frames
    level-dependent, and the model's context carried that for a second (``separate`` 0.4-0.7 dB
    worse at -50 dBFS than at -20, seed-1 test clips). The price: at a stream's very start the
    frames that reach into the first note are lifted as if they were the whole note."""

    def __init__(self, window: np.ndarray, hop: int, rate: float) -> None:
        """``window``: the analysis window behind the STFT frames, as scaled there (the frames'
        spectrum of a constant follows from it); ``hop``: the frames' spacing in samples at
        ``rate``. The framer starts from silence: the first frames, which reach back before the
        first sample, do not count towards the offset."""
        window = np.asarray(window, dtype=np.float64)
        n = len(window)
        hop_seconds = hop / rate
        self._partial = -(-n // hop) - 1
        self._dc_spectrum = self.dc_spectrum(window)
        weights = np.full(n // 2 + 1, 2.0)
        weights[0] = 1.0
        if n % 2 == 0:
            weights[-1] = 1.0
        self._power_weights = weights / (n * float(np.sum(window ** 2)))  # Parseval: mean square of the frame
        self._follow = max(1, int(round(FOLLOW_SECONDS / hop_seconds)))
        self._dc_frames = max(1, int(round(DC_SECONDS / hop_seconds)))
        self._bins = int(round((_HIGH_DB - _LOW_DB) / _BIN_DB))
        self.reset()

    def reset(self) -> None:
        self._dc = 0.0
        self._seen = 0
        self._hist = np.zeros(self._bins, np.int64)
        self._recent = [-1] * self._follow   # ring of the last frames' histogram bins (-1: silent)
        self._counted = 0
        self._gain = 0.0

    @property
    def window_dc_spectrum(self) -> np.ndarray:
        """What a DC offset of 1.0 adds to a frame under the window it measures."""
        return self._dc_spectrum

    def measure(self, stft: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(frames, bins) complex frames under the window given -> each frame's (DC offset, gain
        in dB), the state carried to the next call."""
        n = len(stft)
        dcs, gains = np.empty(n), np.empty(n)
        means = stft[:, 0].real / self._dc_spectrum[0].real   # each frame's windowed mean
        for t in range(n):
            self._seen += 1
            if self._seen > self._partial:
                self._dc += (float(means[t]) - self._dc) / min(self._seen - self._partial, self._dc_frames)
            dcs[t] = self._dc
        less = stft - dcs[:, None] * self._dc_spectrum[None, :]
        mean_squares = (less.real ** 2 + less.imag ** 2) @ self._power_weights
        first = self._seen - n
        for t in range(n):
            self._count(float(mean_squares[t]), first + t + 1)
            gains[t] = self._gain_db()
        return dcs, gains

    @staticmethod
    def magnitudes(stft: np.ndarray, dc_spectrum: np.ndarray | None, dc: np.ndarray, gain_db: np.ndarray) -> np.ndarray:
        """|frames less each one's DC offset (``dc_spectrum``: what an offset of 1.0 adds to a
        frame under their window; None: the offset stays)| times each one's gain."""
        less = stft if dc_spectrum is None else stft - dc[:, None] * dc_spectrum[None, :]
        return np.abs(less) * (10.0 ** (gain_db / 20.0))[:, None]

    @staticmethod
    def dc_spectrum(window: np.ndarray) -> np.ndarray:
        """What a DC offset of 1.0 adds to a frame under ``window`` (as scaled for the STFT)."""
        return np.fft.rfft(np.asarray(window, dtype=np.float64))

    def _count(self, mean_square: float, frame: int) -> None:
        db = 10.0 * math.log10(mean_square) if mean_square > 0.0 else -math.inf
        slot = frame % self._follow
        old = self._recent[slot]
        if old >= 0:
            self._hist[old] -= 1
            self._counted -= 1
        new = -1
        if db > SILENT_DBFS:
            new = min(max(round((db - _LOW_DB) / _BIN_DB), 0), self._bins - 1)
            self._hist[new] += 1
            self._counted += 1
        self._recent[slot] = new

    def _gain_db(self) -> float:
        """The gain to the target from the frames counted so far, at once (so that any constant
        gain of the input gives the same images from the first frame on); held through silence,
        which says nothing of the level."""
        if self._counted:
            self._gain = self._target_db()
        return self._gain

    def _target_db(self) -> float:
        rank = int(math.ceil(self._counted * LOUD_PERCENTILE / 100.0))
        loud = _LOW_DB + int(np.searchsorted(np.cumsum(self._hist), max(rank, 1))) * _BIN_DB
        gain = TARGET_LOUDNESS_DBFS - (loud + STFT_LOUDNESS_OFFSET_DB)
        return min(MAX_GAIN_DB, max(-MAX_GAIN_DB, gain))


STFT_LOUDNESS_OFFSET_DB = 0.0   # LevelMeter's loudness minus this one's: 0.05 +- 0.05 dB over the six bundled examples
