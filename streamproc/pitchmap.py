"""The pitch map, the image a pitch model writes: its layout (defined here, once, for training
and run time) and how a column decodes to a pitch.

Row r stands for MIDI pitch ``PITCH_MIN_MIDI + r / BINS_PER_SEMITONE`` (quarter tones), +1
where the note sounds at the frame centre, -1 elsewhere (the [-1, 1] image range). A model
carries its own layout in its metadata (``OnnxFrameModel.pitch_layout``), which then wins.
"""
from __future__ import annotations

import numpy as np

PITCH_MIN_MIDI = 36.0
BINS_PER_SEMITONE = 2
N_PITCH_BINS = 128
PITCHMAP_ON, PITCHMAP_OFF = 1.0, -1.0


def pitch_layout() -> dict:
    """The layout as the metadata keys a pitch model carries (a fresh dict)."""
    return {"pitch_min_midi": PITCH_MIN_MIDI, "bins_per_semitone": BINS_PER_SEMITONE,
            "n_pitch_bins": N_PITCH_BINS, "pitchmap_on": PITCHMAP_ON, "pitchmap_off": PITCHMAP_OFF}


DEFAULT_LAYOUT = pitch_layout()

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


def voicing_threshold(layout: dict, level: float = VOICING_LEVEL) -> float:
    off, on = float(layout.get("pitchmap_off", PITCHMAP_OFF)), float(layout.get("pitchmap_on", PITCHMAP_ON))
    return off + level * (on - off)


def decode_pitchmap(pm: np.ndarray, layout: dict, threshold: float | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(frames, rows) pitch map -> (MIDI pitch per frame, voiced per frame).

    The brightest row, moved towards its brighter neighbour by the centroid of the three rows'
    heights above ``pitchmap_off``: a single lit row decodes to its own pitch, two equally lit
    rows to the pitch between them (sub-bin accuracy for detuned notes). Each frame is decoded
    on its own, so the result never depends on how frames were batched.
    """
    pm = np.asarray(pm, dtype=np.float64)
    if pm.ndim != 2:
        raise ValueError(f"pitch map must be (frames, rows), got shape {pm.shape}")
    n, rows = pm.shape
    if n == 0:
        return np.zeros(0), np.zeros(0, bool)
    thr = voicing_threshold(layout) if threshold is None else float(threshold)
    idx = np.arange(n)
    r = np.argmax(pm, axis=1)
    peak = pm[idx, r]
    h = np.maximum(pm - float(layout.get("pitchmap_off", PITCHMAP_OFF)), 0.0)
    below = np.where(r > 0, h[idx, np.maximum(r - 1, 0)], 0.0)
    above = np.where(r < rows - 1, h[idx, np.minimum(r + 1, rows - 1)], 0.0)
    total = below + h[idx, r] + above
    delta = np.divide(above - below, total, out=np.zeros(n), where=total > 0)
    midi = float(layout["pitch_min_midi"]) + (r + delta) / float(layout["bins_per_semitone"])
    return midi, peak > thr
