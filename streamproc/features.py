"""The image a frame model reads, computed from STFT magnitudes, by the name a model's metadata
gives as ``input_kind`` (absent: ``mel``). Training data (``models.data``), the standard
framing (``stages.InputFeatures``) and the low-delay framing all read this one definition, so a
model sees at run time exactly the image it was trained on.

- ``mel``: the normalised log-mel image (``dsp.mel_filterbank``), every task's default.
- ``logfreq``: a log-frequency image whose rows are the pitch map's own (row r at MIDI
  ``min_midi + r / bins_per_semitone``), for pitch models: a note's harmonics then sit at the
  same row offsets whatever its pitch, which convolutions share, and a fundamental's row is its
  output row. Each row is a peak-1 triangle on the linear-frequency axis, at least one FFT bin
  wide on each side, so a pure tone keeps its amplitude and no row falls between bins.
- ``mel-asym``: the log-mel image under the ``live`` profile's asymmetric analysis window (a
  long rise, a fall of ``ASYM_FALL_MS``) instead of the Hann window, for models trained to run
  there: the live framing modifies the spectrum under that window, and a mask estimated from
  its own image meets the spectrum it is applied to (``bench.oracle_masks``).

A kind names the analysis window too (``kind_window``); every frame ends with the same sample
whichever window it is taken under.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Callable

import numpy as np

from . import dsp
from .config import SpectralConfig
from .errors import UserError
from .pitchmap import DEFAULT_LAYOUT, PitchLayout, midi_to_hz

FeatureFn = Callable[[np.ndarray], np.ndarray]  # magnitudes (frames, bins) -> float32 (frames, rows)
_KINDS: dict[str, Callable[[SpectralConfig, PitchLayout], FeatureFn]] = {}
_WINDOWS: dict[str, float | None] = {}  # kind -> the asymmetric window's fall in ms (None: Hann)
DEFAULT_KIND = "mel"
ASYM_FALL_MS = 4.0  # the live profile's hop: its asymmetric window falls over one hop


def register_input_kind(name: str, fall_ms: float | None = None) -> Callable:
    """``fall_ms``: the image is taken under the asymmetric window falling over that many ms
    (``dsp.asymmetric_windows``); None: under the Hann window."""
    def deco(make: Callable[[SpectralConfig, PitchLayout], FeatureFn]) -> Callable:
        _KINDS[name] = make
        _WINDOWS[name] = fall_ms
        return make
    return deco


def kind_window(kind: str) -> float | None:
    """The fall (ms) of the asymmetric window that ``kind``'s image is taken under; None: Hann."""
    return _WINDOWS[check_input_kind(kind)]


def analysis_window(kind: str, cfg: SpectralConfig) -> np.ndarray:
    """The analysis window (amplitude-scaled as ``dsp.windows``) of ``kind``'s image at ``cfg``."""
    fall_ms = kind_window(kind)
    if fall_ms is None:
        return dsp.windows(cfg)[0]
    return dsp.scaled_asymmetric_windows(cfg.n_fft, fall_samples(fall_ms, cfg.sample_rate))[0]


def fall_samples(fall_ms: float, rate: int) -> int:
    return max(1, int(round(fall_ms * rate / 1000.0)))


def input_kinds() -> tuple[str, ...]:
    return tuple(_KINDS)


def check_input_kind(kind: str, source: str = "model") -> str:
    if kind not in _KINDS:
        raise UserError(f"{source} reads input images of kind {kind!r}, which this version does not know "
                        f"({', '.join(_KINDS)})")
    return kind


def input_features(kind: str, cfg: SpectralConfig, layout: PitchLayout | None = None) -> FeatureFn:
    """The feature function of ``kind`` at ``cfg``'s bins (``layout``: the rows of ``logfreq``)."""
    return _KINDS[check_input_kind(kind)](cfg, layout or DEFAULT_LAYOUT)


def model_input_kind(model: object) -> str:
    """What a frame model reads (``input_kind`` in its metadata; models that do not say: mel)."""
    return str(getattr(model, "input_kind", None) or DEFAULT_KIND)


def model_features(model: object, cfg: SpectralConfig) -> FeatureFn:
    """The feature function a loaded model was trained on, at ``cfg``'s bins."""
    return input_features(model_input_kind(model), cfg, getattr(model, "pitch_layout", None))


def audio_features(x: np.ndarray, cfg: SpectralConfig, kind: str = DEFAULT_KIND,
                   layout: PitchLayout | None = None) -> np.ndarray:
    """Audio at ``cfg.sample_rate`` -> the input image of ``kind``, shape (rows, frames)."""
    spec = dsp.stft(x, cfg, window=analysis_window(kind, cfg))
    return input_features(kind, cfg, layout)(np.abs(spec)).T


@register_input_kind("mel")
def _mel(cfg: SpectralConfig, layout: PitchLayout) -> FeatureFn:
    def mel(mag: np.ndarray) -> np.ndarray:
        return dsp.features_from_mel(dsp.mel_from_magnitude(mag, cfg), cfg).astype(np.float32)
    return mel


@register_input_kind("mel-asym", fall_ms=ASYM_FALL_MS)
def _mel_asym(cfg: SpectralConfig, layout: PitchLayout) -> FeatureFn:
    return _mel(cfg, layout)


@lru_cache(maxsize=16)
def logfreq_filterbank(cfg: SpectralConfig, layout: PitchLayout = DEFAULT_LAYOUT) -> np.ndarray:
    """(rows, bins): peak-1 triangles centred on each pitch row's frequency, reaching the
    neighbouring rows' centres or one FFT bin, whichever is wider."""
    rows = np.arange(layout.n_bins, dtype=np.float64)
    centre = midi_to_hz(layout.min_midi + rows / layout.bins_per_semitone)
    step = 1.0 / layout.bins_per_semitone
    below = centre - midi_to_hz(layout.min_midi + (rows - 1) * step)
    above = midi_to_hz(layout.min_midi + (rows + 1) * step) - centre
    df = cfg.sample_rate / cfg.n_fft
    below, above = np.maximum(below, df), np.maximum(above, df)
    f = np.arange(cfg.n_bins) * df
    d = f[None, :] - centre[:, None]
    w = np.where(d < 0, 1.0 + d / below[:, None], 1.0 - d / above[:, None])
    return np.ascontiguousarray(np.clip(w, 0.0, None) * (centre[:, None] < cfg.sample_rate / 2))


@register_input_kind("logfreq")
def _logfreq(cfg: SpectralConfig, layout: PitchLayout) -> FeatureFn:
    bank = logfreq_filterbank(cfg, layout).T

    def logfreq(mag: np.ndarray) -> np.ndarray:
        return dsp.features_from_mel(np.asarray(mag, np.float64) @ bank, cfg).astype(np.float32)
    return logfreq
