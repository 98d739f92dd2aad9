"""The ``pitch`` task in the engine: its front (mel -> pitch model -> :class:`PitchDecode`,
registered in ``streamproc.tasks`` beside the other tasks) and its reconstruction ``sine``
(:class:`SineSynth`).

Frame k describes the instant at its centre, sample ``k*hop + hop - n_fft/2`` at the model
rate (``models.data.frame_centres``), or ``S*hop`` later for a model trained with a target
shift of S frames (``target_shift_frames``; S = 2: the frame's last sample), which
:func:`described_sample` says in one place. The application API (tracking files, notes,
writers) is ``streamproc.pitch``.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np

from . import dsp
from .config import SpectralConfig
from .errors import UserError
from .features import model_features
from .frame_model import FrameModel, target_shift_frames
from .frames import Frames
from .pitchmap import DECODERS, DEFAULT_LAYOUT, PitchLayout, decode_pitchmap, midi_to_hz
from .registry import register_lowdelay_recon, register_recon
from .spec import TaskSpec
from .stages import FramewiseStage, model_input_stage, task_chunker


def described_sample(k: np.ndarray | int, cfg: SpectralConfig, shift_frames: int = 0) -> np.ndarray | int:
    """The model-rate sample that frame k's pitch describes: its centre, ``shift_frames`` hops later."""
    return k * cfg.hop + cfg.hop - cfg.n_fft // 2 + shift_frames * cfg.hop


class PitchDecode(FramewiseStage):
    """Pitch-map features -> ``pitch``: MIDI pitch and voiced (1.0 or 0.0) per frame.

    ``target_shift_frames``: the model's (see :func:`described_sample`); the stage passes it on
    to the synthesiser (:meth:`SineSynth.bind`), the frames themselves are not moved."""

    reads = ("features",)
    writes = ("pitch",)

    def __init__(self, cfg: SpectralConfig, layout: PitchLayout, threshold: float | None = None,
                 decoder: str | None = None, target_shift_frames: int = 0) -> None:
        super().__init__(cfg)
        if decoder is not None and decoder not in DECODERS:
            raise UserError(f"unknown pitch decoder {decoder!r} (choose from {', '.join(DECODERS)})")
        self.layout = layout
        self.threshold = threshold
        self.decoder = decoder
        self.target_shift_frames = int(target_shift_frames)

    def process(self, frames: Frames) -> Frames:
        if not len(frames):
            return frames
        midi, voiced = decode_pitchmap(frames.get("features"), self.layout, self.threshold, self.decoder)
        return frames.with_(pitch=np.column_stack([midi, voiced.astype(np.float64)]))


@lru_cache(maxsize=None)
def _rms_factor(n_fft: int) -> float:
    return window_rms_factor(dsp.analysis_window(n_fft))


def window_rms_factor(window: np.ndarray) -> float:
    """energy-of-spectrum -> mean square under ``window`` (unscaled; Parseval on the one-sided
    spectrum; ``dsp`` scales spectra by 2 / sum(window))."""
    w = np.asarray(window, dtype=np.float64)
    scale = 2.0 / w.sum()
    return 2.0 / (scale * scale * len(w) * float(np.dot(w, w)))


def frame_rms(stft: np.ndarray, cfg: SpectralConfig, factor: float | None = None) -> np.ndarray:
    """RMS of the input under each frame's window, from its (amplitude-scaled) spectrum:
    (frames, bins) -> (frames,); one row -> a 0-d array. ``factor``: the window's
    :func:`window_rms_factor` (default: the Hann window of ``cfg.n_fft``)."""
    power = np.sum(np.abs(np.asarray(stft)) ** 2, axis=-1)
    return np.sqrt(power * (_rms_factor(cfg.n_fft) if factor is None else factor))


class SineSynth:
    """Decoded frames -> a sine at the tracked pitch, as loud (RMS) as the input frame.

    After frame k it emits the ``hop`` samples between the instants frames k-1 and k describe
    (:func:`described_sample`), so each output sample lies between the two frames that
    describe it: the pitch glides there (in log-frequency), and the amplitude (the RMS under
    each frame's window) moves linearly from one frame's to the next's, which fades the tone in
    and out where voicing changes. Phase runs on across frames and blocks. Frame k is complete
    when input sample (k+1)*hop - 1 has arrived; its centre lies n_fft/2 - hop samples before
    that, so the synthesiser's own latency is n_fft/2, less S*hop for a model whose frames
    describe S hops after their centre (S = 2 at n_fft = 4 hops: latency 0, the sine follows at
    once). A shift past the frame's last sample would need negative latency and is refused.

    ``lead``: how many samples before a frame's end the instant it describes lies for a model
    without a target shift (default n_fft/2, its centre); ``target_shift_frames`` S moves that
    instant S hops later (lead - S*hop); ``window``: the analysis window behind ``stft``
    (unscaled; default Hann), for the amplitude.
    """

    reads = ("stft", "pitch")

    def __init__(self, cfg: SpectralConfig, lead: int | None = None, window: np.ndarray | None = None,
                 target_shift_frames: int = 0) -> None:
        self.cfg = cfg
        self._centre_lead = cfg.n_fft // 2 if lead is None else int(lead)
        self._rms = None if window is None else window_rms_factor(window)
        self._u = np.arange(cfg.hop, dtype=np.float64) / cfg.hop
        self._set_shift(target_shift_frames)

    def _set_shift(self, shift: int) -> None:
        c = self.cfg
        lead = self._centre_lead - int(shift) * c.hop  # samples from the described instant to the frame's end
        if shift < 0 or lead < 0:
            raise UserError(f"pitch model's target shift of {shift} frames describes a time after its frames' "
                            f"last sample; the sine takes shifts of 0..{self._centre_lead // c.hop} frames "
                            f"at n_fft {c.n_fft}, hop {c.hop}")
        self.target_shift_frames = int(shift)
        self.lead = self.latency_samples = lead
        self.reset()

    def bind(self, stages: list[Any]) -> None:
        """Called by ``build_core`` with the frame stages before it: takes the target shift of the
        stage that decodes the pitch (:class:`PitchDecode`), so the sine is as late as its frames say."""
        shifts = {int(getattr(s, "target_shift_frames", 0)) for s in stages if "pitch" in getattr(s, "writes", ())}
        if shifts:
            self._set_shift(max(shifts))

    def reset(self) -> None:
        self._f0 = 0.0       # Hz of the previous frame (0: none yet)
        self._amp = 0.0      # amplitude of the previous frame (0 when unvoiced)
        self._phase = 0.0
        self._skip = self.lead  # the first frames describe the time before sample 0

    def process(self, frames: Frames) -> np.ndarray:
        c = self.cfg
        n = len(frames)
        if n == 0:
            return np.zeros(0)
        out = np.empty(n * c.hop)
        step = 2.0 * math.pi / c.sample_rate
        amps = math.sqrt(2.0) * frame_rms(frames.stft, c, self._rms)
        pitch = frames.get("pitch")
        for k in range(n):
            midi, voiced = pitch[k]
            f0 = float(midi_to_hz(midi)) if voiced else 0.0
            amp = float(amps[k]) if voiced else 0.0
            prev = self._f0 if self._amp > 0 else 0.0
            if prev > 0 and f0 > 0:
                f = prev * (f0 / prev) ** self._u
            else:  # fading in or out: hold the voiced side's pitch
                f = np.full(c.hop, f0 or prev or 0.0)
            a = self._amp + (amp - self._amp) * self._u
            phase = self._phase + np.cumsum(f * step)
            out[k * c.hop:(k + 1) * c.hop] = a * np.sin(phase)
            self._phase = float(phase[-1] % (2.0 * math.pi))
            self._f0, self._amp = (f0 if f0 > 0 else prev), amp
        if self._skip:
            drop = min(self._skip, len(out))
            self._skip -= drop
            out = out[drop:]
        return out


def model_threshold(model: FrameModel) -> float | None:
    """A model's own voicing threshold (``voicing_threshold``, map units), if it has one."""
    value = getattr(model, "voicing_threshold", None)
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        raise UserError(f"pitch model has a malformed voicing_threshold {value!r}") from None


def model_layout(model: FrameModel) -> PitchLayout:
    """A pitch model's row layout, checked against its output size and kind."""
    kind = getattr(model, "output_kind", "mel")
    if kind != "pitchmap":
        raise UserError(f"task pitch needs a model that outputs a pitch map, this one outputs {kind}")
    layout = getattr(model, "pitch_layout", None) or DEFAULT_LAYOUT
    if layout.n_bins != model.n_outputs:
        raise UserError(f"pitch model has {model.n_outputs} output rows but its layout says {layout.n_bins}")
    return layout


def build_pitch_front(spec: TaskSpec, model: FrameModel) -> list[Any]:
    """The model's input image (mel, or log-frequency: ``streamproc.features``) -> the pitch
    model (chunked as the profile says) -> decoded pitch per frame."""
    chunker = task_chunker(model, spec.profile, spec.task, spec.recon)
    return [model_input_stage(spec.cfg, model_features(model, spec.cfg), spec.follow_level,
                              mask_reference=False), chunker,
            PitchDecode(spec.cfg, model_layout(model), model_threshold(model), getattr(model, "pitch_decoder", None),
                        target_shift_frames(model))]


@register_lowdelay_recon("sine")
def build_lowdelay_sine(spec: TaskSpec, cfg: SpectralConfig, model: FrameModel,
                        restore_model: FrameModel | None = None) -> tuple[list[Any], Any]:
    """Pitch in the low-delay framing: each hop's decoded pitch, sonified at the host rate. A
    model's prediction describes its newest Hann frame's centre (half a window before the frame
    ends), or its target shift later (``pitch-live``: the frame's end, so the sine follows at
    once): the sine is declared exactly that late. The host window is a whole number of hops, so
    at 44.1 kHz it ends 0.07 ms before the shifted instant; the lead is then 0."""
    layout = model_layout(model)
    shift = target_shift_frames(model)
    decode = PitchDecode(cfg, layout, model_threshold(model), getattr(model, "pitch_decoder", None), shift)
    shifted = int(round(shift * spec.cfg.hop * cfg.sample_rate / spec.cfg.sample_rate))  # host samples
    lead = max(0, cfg.n_fft // 2 - shifted)
    return [decode], SineSynth(cfg, lead=lead, window=dsp.asymmetric_windows(cfg.n_fft, cfg.hop)[0])


@register_recon("sine")
def build_sine(spec: TaskSpec, restore_model: FrameModel | None = None) -> tuple[list[Any], Any]:
    """The tracked pitch sonified (see :class:`SineSynth`)."""
    return [], SineSynth(spec.cfg)
