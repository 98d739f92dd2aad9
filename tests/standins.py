"""Stand-in models for tests that must run every pipeline without trained files: the identity
for mel-to-mel tasks and the restoration net, a loudest-band pitch model, a random vocoder.

Each is small (short chunking, few vocoder layers) so that the whole registry can be walked
in a test run. Import as ``from standins import ...`` (tests/ is on the path)."""
from __future__ import annotations

import numpy as np

from streamproc import wavenet as W
from streamproc.config import DEFAULT
from streamproc.frame_model import FrameModel, IdentityModel
from streamproc.pitchmap import DEFAULT_LAYOUT
from streamproc.registry import task


class LoudestBandModel:
    """Stand-in pitch model: lights a row that follows each frame's loudest mel band, as bright
    as that band's normalised level (so silence is unvoiced); small chunking keeps tests quick."""

    output_kind = "pitchmap"
    pitch_layout = DEFAULT_LAYOUT
    n_inputs = DEFAULT.n_mels
    n_outputs = DEFAULT_LAYOUT.n_bins
    context_frames, new_frames, lookahead_frames = 4, 3, 2

    def run(self, window: np.ndarray) -> np.ndarray:
        out = np.full((self.n_outputs, window.shape[1]), DEFAULT_LAYOUT.off, np.float32)
        cols = np.arange(window.shape[1])
        out[np.minimum(np.argmax(window, axis=0) + 60, self.n_outputs - 1), cols] = window.max(axis=0)  # 30 semitones up
        return out


def identity_mel_model() -> IdentityModel:
    """A mel-to-mel task model that returns its input (window 4 + 3 + 2 frames)."""
    return IdentityModel(DEFAULT.n_mels, context_frames=4, new_frames=3, lookahead_frames=2)


def identity_restore_model() -> IdentityModel:
    """The restoration net's stand-in: the identity on the linear bins."""
    return IdentityModel(DEFAULT.n_bins, context_frames=4, new_frames=4, lookahead_frames=4)


def stand_in_model(task_name: str) -> FrameModel | None:
    """The stand-in for a task's model (None where the task runs without one)."""
    entry = task(task_name)
    if not entry.needs_model:
        return None
    if entry.model_output == "pitchmap":
        return LoudestBandModel()
    return identity_mel_model()


def small_vocoder(seed: int = 1) -> W.Vocoder:
    """A random (untrained) GAN-WN vocoder, small enough for the sample-by-sample kernels."""
    return W.random_vocoder(n_layers=7, residual=8, skip=12, hidden=16, cond_channels=6,
                            dilation_cycle=4, seed=seed)


def push_blocks(engine, x: np.ndarray, sizes: list[int]) -> np.ndarray:
    """Resets ``engine`` and pushes ``x`` cut into pieces of ``sizes`` (repeated), aligned output."""
    engine.reset()
    out, i, k = [], 0, 0
    while i < len(x):
        n = sizes[k % len(sizes)]
        out.append(engine.push(x[i:i + n]))
        i, k = i + n, k + 1
    return np.concatenate(out)
