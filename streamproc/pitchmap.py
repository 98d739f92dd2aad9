"""The pitch map, the image a pitch model writes: its layout (defined here, once, for training
and run time) and how a column decodes to a pitch.

Row r stands for MIDI pitch ``min_midi + r / bins_per_semitone`` (quarter tones), +1
where the note sounds at the frame centre, -1 elsewhere (the [-1, 1] image range). A model
carries its own layout in its metadata (``OnnxFrameModel.pitch_layout``), which then wins.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Mapping

import numpy as np

_PROPS = {"min_midi": "pitch_min_midi", "bins_per_semitone": "bins_per_semitone", "n_bins": "n_pitch_bins",
          "on": "pitchmap_on", "off": "pitchmap_off"}  # field -> metadata key


@dataclass(frozen=True)
class PitchLayout:
    """Which pitch each row of a pitch map stands for, and the values of lit and dark rows.

    Row r <-> MIDI ``min_midi + r / bins_per_semitone`` (bin centres). Training data
    (``models.data``), export metadata and the decoder all read this one definition."""
    min_midi: float = 36.0
    bins_per_semitone: int = 2
    n_bins: int = 128
    on: float = 1.0
    off: float = -1.0

    def row(self, midi: float) -> int:
        """The nearest row of a MIDI pitch (may fall outside ``[0, n_bins)``)."""
        return int(round((midi - self.min_midi) * self.bins_per_semitone))

    def rows(self, midi: np.ndarray) -> np.ndarray:
        return np.round((np.asarray(midi, np.float64) - self.min_midi) * self.bins_per_semitone).astype(int)

    def as_dict(self) -> dict[str, float | int]:
        """The layout under its metadata keys, typed (data manifests, network configs)."""
        return {_PROPS[k]: v for k, v in asdict(self).items()}

    def to_props(self) -> dict[str, str]:
        """The layout as ONNX ``metadata_props`` (strings)."""
        return {k: str(v) for k, v in self.as_dict().items()}

    @classmethod
    def from_props(cls, props: Mapping[str, str | float | int]) -> "PitchLayout":
        """From metadata keys (strings or numbers); on/off default to the [-1, 1] image range.
        KeyError names a missing key, ValueError a malformed value."""
        d = cls()
        return cls(min_midi=float(props[_PROPS["min_midi"]]),
                   bins_per_semitone=int(props[_PROPS["bins_per_semitone"]]),
                   n_bins=int(props[_PROPS["n_bins"]]),
                   on=float(props.get(_PROPS["on"], d.on)),
                   off=float(props.get(_PROPS["off"], d.off)))


DEFAULT_LAYOUT = PitchLayout()
PITCH_PROPS = tuple(_PROPS.values())  # the metadata keys a pitch model carries

# A frame is voiced when its brightest row exceeds off + VOICING_LEVEL * (on - off): 0.0 in the
# default [-1, 1] map. Chosen on TRAINING data only (never the test split): the pitch model of
# runs/pitch (class-balanced L1 + GAN) at step 1500, exported to ONNX, on the first 60 examples
# of data/pitch (train split), thresholds -0.9..0.9 in steps of 0.1, scored frame by frame
# against the target maps. 98.8 % of those frames are voiced (legato melodies), so plain voicing
# accuracy is degenerate (best: voice everything, 0.988); we took the threshold that maximises
# the mean of overall accuracy (mir_eval's sense: unvoiced right, or voiced within 50 cents) and
# balanced voicing accuracy (mean of voiced recall and unvoiced true-negative rate). That mean is
# flat from -0.2 to 0.2 (0.719-0.720); at 0.0: voicing accuracy 0.928, voiced recall 0.934,
# unvoiced true negatives 0.491, raw pitch accuracy 0.730, overall accuracy 0.727. Re-run with
# the step-3000 export (same 60 examples): the mean peaks at -0.4 (0.679), 0.0 gives 0.674 and
# voicing accuracy 0.823, raw pitch 0.677; kept. A model may carry its own threshold in its
# metadata (``voicing_threshold``), which then wins.
VOICING_LEVEL = 0.5


def midi_to_hz(m: np.ndarray | float) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(m, dtype=np.float64) - 69.0) / 12.0)


def hz_to_midi(f: np.ndarray | float) -> np.ndarray:
    return 69.0 + 12.0 * np.log2(np.asarray(f, dtype=np.float64) / 440.0)


def voicing_threshold(layout: PitchLayout, level: float = VOICING_LEVEL) -> float:
    return layout.off + level * (layout.on - layout.off)


def _neighbours(h: np.ndarray, r: np.ndarray, k: int) -> np.ndarray:
    """(frames, 2k+1) heights of rows r-k..r+k (0 outside the map)."""
    n, rows = h.shape
    at = r[:, None] + np.arange(-k, k + 1)
    inside = (at >= 0) & (at < rows)
    return np.where(inside, h[np.arange(n)[:, None], np.clip(at, 0, rows - 1)], 0.0)


def _centroid(k: int):
    def offset(h: np.ndarray, r: np.ndarray) -> np.ndarray:
        w = _neighbours(h, r, k)
        total = w.sum(axis=1)
        return np.divide(w @ np.arange(-k, k + 1, dtype=np.float64), total, out=np.zeros(len(r)), where=total > 0)
    return offset


def _vertex(b: np.ndarray, p: np.ndarray, a: np.ndarray) -> np.ndarray:
    """Offset of the vertex of the parabola through (-1, b), (0, p), (1, a), within half a row."""
    curv = 2.0 * p - a - b
    return np.clip(np.divide(a - b, 2.0 * curv, out=np.zeros(len(p)), where=curv > 0), -0.5, 0.5)


def _parabolic(h: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The vertex of the parabola through the peak row and its two neighbours."""
    return _vertex(*_neighbours(h, r, 1).T)


def _gaussian(h: np.ndarray, r: np.ndarray) -> np.ndarray:
    """The vertex of the parabola through the logs of the three heights: exact for a sampled
    Gaussian, the shape of the soft targets the pitch models train on (``models.data
    --pitch-sigma``). A lone lit row decodes to itself, two equal rows to the point between."""
    return _vertex(*np.log(np.maximum(_neighbours(h, r, 1), _LOG_FLOOR)).T)


_LOG_FLOOR = 1e-6  # heights above ``off`` below this count as dark

# Sub-row decoders: (heights above ``off``, brightest row per frame) -> row offset per frame.
# Chosen on TRAINING data (40 train-split examples of seed 7, never the test split) with the
# soft-target pitch model: mean error within 50 cents 4.4 cents (gaussian), 4.6 (parabolic),
# 6.0 (3-row centroid), 8.1 (argmax); share within 20 cents 0.915 / 0.914 / 0.901 / 0.848.
DECODERS = {"argmax": lambda h, r: np.zeros(len(r)), "centroid3": _centroid(1), "centroid5": _centroid(2),
            "parabolic": _parabolic, "gaussian": _gaussian}
DEFAULT_DECODER = "gaussian"


def note_change_at(before: np.ndarray, after: np.ndarray, layout: PitchLayout) -> np.ndarray:
    """Where a note changes between two consecutive frames, for each pair of pitch maps
    (``before[i]``, ``after[i]``): 0 at the first frame's instant, 1 at the second's; the point
    where the second frame's brightest row overtakes the first frame's, their heights above
    ``layout.off`` taken as linear in time between the frames. 0.5 (half-way) where neither
    leads. Why: frames are 8-16 ms apart, and how bright the new note already is before the
    change, and the old one still is after it, says where in between it falls."""
    a = np.maximum(np.asarray(before, np.float64) - layout.off, 0.0)
    b = np.maximum(np.asarray(after, np.float64) - layout.off, 0.0)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"two (frames, rows) pitch maps of one shape expected, got {a.shape} and {b.shape}")
    i = np.arange(len(a))
    r0, r1 = np.argmax(a, axis=1), np.argmax(b, axis=1)
    lead_before = a[i, r0] - a[i, r1]  # how far the old note leads at the first frame (>= 0)
    lead_after = b[i, r1] - b[i, r0]   # how far the new note leads at the second (>= 0)
    total = lead_before + lead_after
    return np.divide(lead_before, total, out=np.full(len(a), 0.5), where=total > 0)


def decode_pitchmap(pm: np.ndarray, layout: PitchLayout, threshold: float | None = None,
                    decoder: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(frames, rows) pitch map -> (MIDI pitch per frame, voiced per frame).

    The brightest row, moved by a sub-row offset from its neighbours' heights above
    ``layout.off`` (``DECODERS[decoder]``, default the log-parabola of the soft targets: a single
    lit row decodes to its own pitch, two equally lit rows to the pitch between them). Each frame is decoded on
    its own, so the result never depends on how frames were batched.
    """
    pm = np.asarray(pm, dtype=np.float64)
    if pm.ndim != 2:
        raise ValueError(f"pitch map must be (frames, rows), got shape {pm.shape}")
    offset = DECODERS.get(decoder or DEFAULT_DECODER)
    if offset is None:
        raise ValueError(f"unknown pitch decoder {decoder!r} (choose from {', '.join(DECODERS)})")
    n, rows = pm.shape
    if n == 0:
        return np.zeros(0), np.zeros(0, bool)
    thr = voicing_threshold(layout) if threshold is None else float(threshold)
    r = np.argmax(pm, axis=1)
    peak = pm[np.arange(n), r]
    delta = offset(np.maximum(pm - layout.off, 0.0), r)
    midi = layout.min_midi + (r + delta) / layout.bins_per_semitone
    return midi, peak > thr
