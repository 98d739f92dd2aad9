"""Engine stages. Each has ``process``, ``reset``, a declared worst-case latency, and declares
the :class:`Frames` fields it ``reads`` and ``writes`` (``Core`` checks the chain once).

Three kinds, in the order data flows through them:
- a *framer* turns samples into :class:`Frames` (``latency_samples``, model rate),
- *frame stages* map Frames to Frames (``latency_frames``: how many later frames an output
  frame may wait for, the stage on its own; ``schedule``: a :class:`FrameSchedule`, when it
  hands frames on, from which ``Core`` computes the exact latency of the stages in series),
- a *synthesiser* turns Frames back into samples (``latency_samples``, model rate).
A frame stage must output frame k exactly once, in order, whatever batches frames arrive in,
and must compute each output frame the same way whatever the batching: that is what makes the
engine's output independent of block sizes.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from . import dsp
from .config import SpectralConfig
from .features import DEFAULT_KIND, FeatureFn, input_features
from .frame_model import FrameModel, prepare_columns, run_columns
from .frames import Frames, FrameSchedule
from .griffinlim import StreamingGriffinLim
from .level import LevelFollower

if TYPE_CHECKING:
    from .spec import Profile


class FrameStage(Protocol):
    reads: tuple[str, ...]   # Frames fields it needs (written by the framer or a stage before it)
    writes: tuple[str, ...]  # Frames fields it sets
    latency_frames: int      # its own worst case (an upper bound on what it adds in a chain)
    # Optional: ``schedule: FrameSchedule``. Without one, Core treats the stage as a pure delay
    # of ``latency_frames`` (frames.schedule_of), which never under-declares but may over-declare.

    def process(self, frames: Frames) -> Frames: ...

    def reset(self) -> None: ...


# ----------------------------------------------------------------------------- framer

class StftFramer:
    """Samples -> complex STFT frames; frame k is emitted once sample (k+1)*hop-1 is in."""

    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ("stft",)

    def __init__(self, cfg: SpectralConfig) -> None:
        self.cfg = cfg
        self.latency_samples = cfg.hop - 1
        self._window, _ = dsp.windows(cfg)
        self.analysis_window = dsp.analysis_window(cfg.n_fft)  # unscaled (what frame levels need)
        # what a block that completes no frame returns (most blocks of a small-block host);
        # callers only test its length, so one instance serves
        self._no_frames = Frames.empty(cfg.n_fft // 2 + 1)
        self.reset()

    def reset(self) -> None:
        self._buf = np.zeros(self.cfg.n_fft - self.cfg.hop)

    def process(self, x: np.ndarray) -> Frames:
        c = self.cfg
        buf = np.concatenate([self._buf, x]) if len(x) else self._buf
        n = max(0, (len(buf) - (c.n_fft - c.hop)) // c.hop)
        self._buf = buf[n * c.hop:]
        return self._analyse(buf, n) if n else self._no_frames

    def _analyse(self, buf: np.ndarray, n: int) -> Frames:
        """The ``n`` frames that ``buf`` completes (``buf`` starts with the previous frame's
        overlap); subclasses add fields."""
        return Frames(stft=dsp._stft_frames(buf, self._window, self.cfg.hop, n))


# ----------------------------------------------------------------------------- frame stages

class FramewiseStage:
    """Base for stages that treat each frame on its own: no latency, no state."""

    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    latency_frames = 0
    schedule = FrameSchedule(1, 0)

    def __init__(self, cfg: SpectralConfig) -> None:
        self.cfg = cfg

    def reset(self) -> None:
        pass


class MelFeatures(FramewiseStage):
    """Adds the image column a model reads to each frame (features and input_features): the
    normalised log-mel image, or the feature function given (``streamproc.features``, a
    model's ``input_kind``). With a ``follower`` (``level.LevelFollower``) the images are taken
    without the input's DC offset and at the gain that brings its loudness to the models'; the
    gain goes with the frames (``gain_db``), and the stages that turn images into magnitudes
    (:class:`Descale`, :class:`RatioMask`; :class:`Restore` around its net) take it back out
    (:func:`at_input_level`). ``input_features``, what a mask divides by, keeps the offset: the
    mask is applied to the input's spectrum, offset and all, and so removes it wherever the
    model's image has none."""

    reads = ("stft",)
    writes: tuple[str, ...] = ("features", "input_features")

    def __init__(self, cfg: SpectralConfig, features: FeatureFn | None = None,
                 follower: LevelFollower | None = None, offset_in_reference: bool = True) -> None:
        """``offset_in_reference`` False: ``input_features`` is the model's own image (for a chain
        in which no mask reads it), which saves one image per frame."""
        super().__init__(cfg)
        self._features = features or input_features(DEFAULT_KIND, cfg)
        self.follower = follower
        self._offset_in_reference = offset_in_reference
        if follower is not None:
            self.writes = ("features", "input_features", "gain_db")

    def reset(self) -> None:
        if self.follower is not None:
            self.follower.reset()

    def process(self, frames: Frames) -> Frames:
        if self.follower is None:
            feat = self._features(np.abs(frames.stft))
            return frames.with_(features=feat, input_features=feat)
        follower, stft = self.follower, frames.stft
        dc, gain_db = follower.measure(stft)
        feat = self._features(follower.magnitudes(stft, follower.window_dc_spectrum, dc, gain_db))
        # a mask divides by the spectrum it is applied to: the offset stays in that image, so the
        # mask takes it out wherever the model's image has none
        ref = self._features(follower.magnitudes(stft, None, dc, gain_db)) if self._offset_in_reference else feat
        return frames.with_(features=feat, input_features=ref, gain_db=gain_db)


def model_input_stage(cfg: SpectralConfig, features: FeatureFn, follow_level: bool = False,
                      mask_reference: bool = True) -> MelFeatures:
    """The stage that takes a model's input image from the framer's STFT frames, following the
    input's level when asked (a streaming host's ``level="auto"``). ``mask_reference`` False:
    nothing after the model divides by ``input_features`` (a pitch map)."""
    follower = LevelFollower(dsp.windows(cfg)[0], cfg.hop, cfg.sample_rate) if follow_level else None
    return MelFeatures(cfg, features, follower, offset_in_reference=mask_reference)


def level_factor(frames: Frames) -> np.ndarray | None:
    """Each frame's linear gain (frames, 1) where its images were taken at a followed gain
    (``gain_db``, an optional field: no stage needs to declare it); None where they were not."""
    if frames.gain_db is None:
        return None
    return (10.0 ** (np.asarray(frames.gain_db, dtype=np.float64) / 20.0))[:, None]


def at_input_level(magnitude: np.ndarray, frames: Frames) -> np.ndarray:
    """Magnitudes read from the images of ``frames``, at the input's own level: divided by the
    followed gain where there is one. The image's floor goes down with them, so a quiet input
    keeps its quiet detail below the floor a loud one has."""
    factor = level_factor(frames)
    return magnitude if factor is None else magnitude / factor


class Chunker:
    """Runs a frame model on windows of past context + new frames + lookahead.

    Windows advance by ``new_frames``; each run contributes its new frames, the first
    ``crossfade`` of which the previous run also predicted (in its lookahead): the two are
    blended, which hides seams between windows. The later run saw more of the future, so
    ``later_weight`` can favour it; None blends linearly from the earlier run's prediction to
    the later one's. An output frame waits for at most ``new_frames - 1 + lookahead_frames``
    later frames.
    """

    reads: tuple[str, ...] = ("features",)
    writes: tuple[str, ...] = ("features",)

    def __init__(self, model: FrameModel, crossfade: int | None = None, silence: float = -1.0,
                 new: int | None = None, lookahead: int | None = None, later_weight: float | None = None) -> None:
        """``new``/``lookahead`` re-chunk the model's window (same width, more context, less
        future): less latency for some quality, no retraining. ``later_weight`` (0..1): the
        later run's share of each frame two runs predict; None: a linear ramp."""
        self.model = model
        width = model.context_frames + model.new_frames + model.lookahead_frames
        self.new = model.new_frames if new is None else min(new, model.new_frames)
        self.ahead = model.lookahead_frames if lookahead is None else min(lookahead, model.lookahead_frames)
        self.ctx = width - self.new - self.ahead
        if self.new < 1 or self.ctx < 0 or self.ahead < 0:
            raise ValueError("model chunking must have new_frames >= 1, context/lookahead >= 0")
        self.window = self.ctx + self.new + self.ahead
        self.crossfade = min(self.new, self.ahead) if crossfade is None else crossfade
        if self.crossfade > min(self.new, self.ahead):
            raise ValueError("crossfade cannot exceed new_frames or lookahead_frames")
        self.silence = silence
        self.schedule = FrameSchedule(self.new, self.ahead)  # a run per ``new`` frames, once the lookahead is in
        self.latency_frames = self.schedule.latency_frames  # = new - 1 + lookahead
        x = self.crossfade
        if later_weight is None:
            self._ramp = (np.arange(1, x + 1, dtype=np.float32) / (x + 1))[:, None]
        elif 0.0 <= later_weight <= 1.0:
            self._ramp = np.full((x, 1), later_weight, np.float32)
        else:
            raise ValueError(f"later_weight must be in [0, 1], got {later_weight}")
        self._kept = (self.ctx, self.ctx + self.new + x)   # the only output columns a run contributes
        prepare_columns(model, *self._kept)
        self.reset()

    def reset(self) -> None:
        self._feat = np.full((self.ctx, self.model.n_inputs), self.silence, np.float32)
        self._queue: list[Frames] = []
        self._tail: np.ndarray | None = None

    def _model_input(self, frames: Frames) -> np.ndarray:
        """The image columns the model reads (here: the features)."""
        return frames.get("features")

    def _with_prediction(self, frames: Frames, pred: np.ndarray) -> Frames:
        return frames.with_(features=pred)

    def process(self, frames: Frames) -> Frames:
        if len(frames):
            cols = self._model_input(frames)
            self._feat = np.concatenate([self._feat, np.asarray(cols, dtype=np.float32)])
            self._queue.append(frames)
        outputs = []
        while len(self._feat) >= self.window:
            window = np.ascontiguousarray(self._feat[: self.window].T)
            pred = run_columns(self.model, window, *self._kept).T
            if pred.shape != (self._kept[1] - self._kept[0], self.model.n_outputs):
                raise RuntimeError(f"model returned shape {pred.T.shape}, expected "
                                   f"{(self.model.n_outputs, self._kept[1] - self._kept[0])}")
            new = pred[: self.new].copy()
            x = self.crossfade
            if x and self._tail is not None:
                new[:x] = (1.0 - self._ramp) * self._tail + self._ramp * new[:x]
            self._tail = pred[self.new: self.new + x].copy() if x else None
            self._feat = self._feat[self.new:]
            done = self._pop(self.new)
            outputs.append(self._with_prediction(done, new))
        if not outputs:
            return Frames.empty(frames.stft.shape[1])
        return Frames.concat(outputs)

    def _pop(self, n: int) -> Frames:
        queued = Frames.concat(self._queue)
        self._queue = [queued.slice(n, len(queued))]
        return queued.slice(0, n)


def task_chunker(model: FrameModel, profile: Profile, task: str, recon: str | None) -> Chunker:
    """A task model's chunker as ``profile`` runs it: its re-chunking and its blend of overlapping runs."""
    new, lookahead = profile.chunking(task, recon)
    return Chunker(model, new=new, lookahead=lookahead, later_weight=profile.later_run_weight(task))


class Restore(Chunker):
    """GAN-S restoration: linear magnitudes (after descaling) through the restoration cGAN.

    The network works on the same normalised dB scale as the log-mel features, but on all
    linear bins, and puts back the harmonic fine structure that the mel projection blurred.
    """

    reads = ("magnitude",)
    writes = ("magnitude",)

    def __init__(self, model: FrameModel, cfg: SpectralConfig, new: int | None = None,
                 lookahead: int | None = None, strength: float = 1.0) -> None:
        """``strength`` < 1 keeps part of the descaled magnitudes: the output is the geometric
        blend net ** strength * input ** (1 - strength), a dB-domain wet/dry (a net run with
        less lookahead than it was trained with is less sure of itself)."""
        if model.n_inputs != cfg.n_bins or model.n_outputs != cfg.n_bins:
            raise ValueError(f"a restoration model maps {cfg.n_bins} linear bins to {cfg.n_bins}, "
                             f"this one {model.n_inputs} -> {model.n_outputs}")
        self.cfg = cfg
        self.strength = check_strength(strength)
        super().__init__(model, new=new, lookahead=lookahead)

    def _model_input(self, frames: Frames) -> np.ndarray:
        return dsp.features_from_mel(at_followed_level(frames.get("magnitude"), frames), self.cfg)

    def _with_prediction(self, frames: Frames, pred: np.ndarray) -> Frames:
        dry = at_followed_level(frames.get("magnitude"), frames)
        return frames.with_(magnitude=at_input_level(restored_magnitude(pred, dry, self.strength, self.cfg), frames))


def at_followed_level(magnitude: np.ndarray, frames: Frames) -> np.ndarray:
    """Magnitudes at the level the task model's images were taken at (the restoration net
    hears them as the task model did): the inverse of :func:`at_input_level`."""
    factor = level_factor(frames)
    return magnitude if factor is None else magnitude * factor


def check_strength(strength: float) -> float:
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"restoration strength must be in (0, 1], got {strength}")
    return float(strength)


def restored_magnitude(pred: np.ndarray, dry: np.ndarray, strength: float, cfg: SpectralConfig) -> np.ndarray:
    """The restoration net's output image ``pred`` as magnitudes (at least the image's floor),
    blended with the magnitudes it was given, ``dry``, as net ** strength * dry ** (1 - strength)."""
    floor = floor_magnitude(cfg)
    mag = np.maximum(dsp.mel_from_features(pred, cfg), floor)
    if strength >= 1.0:
        return mag
    return np.exp(strength * np.log(mag) + (1.0 - strength) * np.log(np.maximum(dry, floor)))


def floor_magnitude(cfg: SpectralConfig) -> float:
    """The quietest level an image can express (``db_floor``): a bin at the image's floor means
    "this or quieter", so it is resynthesised at this level, not as exact digital silence.
    Exact zeros leave holes where the truth is merely very quiet; measured on the bundled
    clips (resynth, LSD): violin 0.999 -> 0.943 with gla, 0.931 -> 0.781 with restore."""
    return 10.0 ** (cfg.db_floor / 20.0)


class Descale(FramewiseStage):
    """features (normalised log-mel) -> linear magnitude (at least the image's floor)."""

    reads = ("features",)
    writes = ("magnitude",)

    def process(self, frames: Frames) -> Frames:
        if not len(frames):
            return frames
        mel = dsp.mel_from_features(frames.get("features"), self.cfg)
        mag = np.maximum(dsp.descale(mel, self.cfg), floor_magnitude(self.cfg))
        return frames.with_(magnitude=at_input_level(mag, frames))


class RatioMask(FramewiseStage):
    """Input STFT times the ratio of translated to original magnitudes (input phase kept).

    Both magnitudes go through the same descaling, so its error largely cancels in the ratio;
    the mask is clipped to [0, 1] (a mask only removes).
    """

    reads = ("stft", "features", "input_features")
    writes: tuple[str, ...] = ("stft", "magnitude")

    def __init__(self, cfg: SpectralConfig) -> None:
        super().__init__(cfg)
        covered = np.nonzero(dsp.mel_filterbank(cfg).sum(axis=0) > 0)[0]
        bins = np.arange(cfg.n_bins)
        self._nearest_covered = covered[np.abs(bins[:, None] - covered[None, :]).argmin(axis=1)]

    def process(self, frames: Frames) -> Frames:
        if not len(frames):
            return frames
        out = dsp.descale(dsp.mel_from_features(frames.get("features"), self.cfg), self.cfg)
        ref = dsp.descale(dsp.mel_from_features(frames.get("input_features"), self.cfg), self.cfg)
        mask = np.clip(np.divide(out, ref, out=np.zeros_like(out), where=ref > 0), 0.0, 1.0)
        mask = mask[:, self._nearest_covered]  # bins no mel band sees (DC, Nyquist) follow a neighbour
        return frames.with_(stft=frames.stft * mask, magnitude=at_input_level(out, frames))


class GriffinLim:
    """magnitude -> complex spectrum by streaming Griffin-Lim (RTISI-LA).

    ``known_bins`` > 0 (superres ``hybrid``): the input's own spectrum is kept below that bin
    (magnitude and phase) and only the band above is reconstructed, in agreement with it.
    """

    writes = ("stft",)

    def __init__(self, cfg: SpectralConfig, lookahead: int = 3, iterations: int = 6,
                 momentum: float = 0.5, known_bins: int = 0) -> None:
        self.known_bins = known_bins
        self.reads: tuple[str, ...] = ("magnitude", "stft") if known_bins else ("magnitude",)
        self.gla = StreamingGriffinLim(cfg, lookahead, iterations, momentum, known_bins)
        self.schedule = FrameSchedule(1, lookahead)  # frame k commits once frame k + lookahead is in
        self.latency_frames = lookahead
        self.reset()

    def reset(self) -> None:
        self.gla.reset()
        self._queue: list[Frames] = []

    def process(self, frames: Frames) -> Frames:
        if len(frames):
            self._queue.append(frames)
        known = frames.stft[:, : self.known_bins] if self.known_bins else None
        spec = self.gla.push(frames.get("magnitude"), known) if len(frames) else frames.stft[:0]
        if not len(spec):
            return Frames.empty(frames.stft.shape[1])
        queued = Frames.concat(self._queue)
        self._queue = [queued.slice(len(spec), len(queued))]
        return queued.slice(0, len(spec)).with_(stft=spec)


# ----------------------------------------------------------------------------- synthesiser

class OverlapAdd:
    """Complex frames -> samples (inverse of StftFramer; perfect reconstruction)."""

    reads = ("stft",)

    def __init__(self, cfg: SpectralConfig) -> None:
        self.cfg = cfg
        self.latency_samples = cfg.n_fft - cfg.hop
        _, self._window = dsp.windows(cfg)
        self.reset()

    def reset(self) -> None:
        self._tail = np.zeros(self.cfg.n_fft - self.cfg.hop)
        self._skip = self.cfg.n_fft - self.cfg.hop  # frame 0 starts before time zero

    def process(self, frames: Frames) -> np.ndarray:
        c = self.cfg
        n = len(frames)
        if n == 0:
            return np.zeros(0)
        out = np.zeros(n * c.hop + c.n_fft - c.hop)
        out[: len(self._tail)] = self._tail
        dsp._overlap_add(np.ascontiguousarray(frames.stft), self._window, c.hop, out)
        self._tail = out[n * c.hop:].copy()
        ready = out[: n * c.hop]
        if self._skip:
            drop = min(self._skip, len(ready))
            self._skip -= drop
            ready = ready[drop:]
        return ready
