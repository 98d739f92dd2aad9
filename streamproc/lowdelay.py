"""The low-delay framing behind the ``live`` profile: an engine core at the host's own rate whose
output leaves two short hops after its input.

Why a second framing: in the standard one the 16 kHz resamplers, the 64 ms overlap-add
window and the 16 ms hop keep every pipeline above ~100 ms at 48 kHz. Here

- nothing is resampled: the core runs at the host rate. Its STFT keeps the models' 64 ms
  window and 15.6 Hz bins (``n_fft`` scaled with the rate), so the mel image is the one the
  models were trained on (same triangles over the same frequencies, amplitudes read as
  amplitudes), taken from a Hann window exactly as in training;
- the spectrum that is modified and resynthesised is taken with an *asymmetric* analysis
  window (long rise, one-hop fall) and resynthesised with a two-hop synthesis window, whose
  product is a periodic Hann of two hops: perfect reconstruction at a hop of ``hop_ms``
  (4 ms), and a frame's output leaves one hop after the frame completes;
- the model sees the newest frame as its rightmost column (no lookahead) and its past at the
  spacing it was trained on (every ``stride`` hops = 16 ms), and runs every ``run_every``
  hops (:class:`StridedChunker`).

So the core's latency is (hop - 1) + hop samples (8 ms at 4 ms hops) and the engine's
contract (declared latency exact and tight, block-size invariance) holds as for the standard
framing. Reconstructions that run here register a builder with
``registry.register_lowdelay_recon`` (``mask`` here, pitch's ``sine`` in ``pitch_stages``).
"""
from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import numba
import numpy as np

from . import dsp
from .config import SpectralConfig
from .engine import Core
from .errors import UserError
from .frame_model import FrameModel, prepare_columns, run_columns
from .features import (DEFAULT_KIND, FeatureFn, fall_samples, input_features, kind_window, model_features,
                       model_input_kind)
from .frames import Frames
from .level import LevelFollower
from .registry import lowdelay_recon, register_lowdelay_recon
from .registry import task as registry_task
from .spec import HYBRID_CUTOFF_HZ, TaskSpec, load_restore_model
from .stages import (Descale, RatioMask, StftFramer, at_followed_level, at_input_level, check_strength,
                     restored_magnitude)

# ----------------------------------------------------------------------------- configuration

def host_config(model_cfg: SpectralConfig, rate: int, hop_ms: float) -> tuple[SpectralConfig, int]:
    """(the core's spectral settings at ``rate``, the model's frame spacing in hops).

    The window keeps the model's duration and the hop divides it, so the bins keep the model's
    spacing; ``stride`` hops make up one model hop (16 ms)."""
    lowest = int(2 * model_cfg.fmax)  # below it the models' mel bands do not fit under Nyquist
    if rate < lowest:
        raise UserError(f"the live profile needs a sample rate of at least {lowest} Hz "
                        f"(its models read 0-{model_cfg.fmax / 1000:g} kHz), got {rate}")
    model_hop_ms = 1000.0 * model_cfg.hop / model_cfg.sample_rate
    stride = max(1, int(round(model_hop_ms / hop_ms)))
    hop = max(1, int(round(rate * model_hop_ms / 1000.0 / stride)))
    per_window = max(2, int(round(model_cfg.n_fft / model_cfg.sample_rate * rate / hop)))
    cfg = replace(model_cfg, sample_rate=int(rate), hop=hop, n_fft=hop * per_window)
    return cfg, stride


scaled_windows = dsp.scaled_asymmetric_windows  # (analysis, synthesis), amplitude-scaled


# ----------------------------------------------------------------------------- stages

class LowDelayFramer(StftFramer):
    """Samples -> frames every hop: ``stft`` under the asymmetric window (what is modified and
    resynthesised), the models' normalised log-mel column (``features``) under a Hann window of
    the same span as in training, and the column a mask divides by (``input_features``), by
    default under the asymmetric window itself: a mask is applied to that spectrum, and a
    Hann-window denominator cannot account for what the asymmetric window's short fall leaks
    between bands. Frame k ends with sample (k+1)*hop - 1."""

    writes: tuple[str, ...] = ("stft", "features", "input_features")

    def __init__(self, cfg: SpectralConfig, feature_window: str = "hann", reference_window: str = "hann",
                 features: FeatureFn | None = None, follow_level: bool = False,
                 mask_reference: bool = True) -> None:
        """``features``: the model's image of a magnitude spectrum at these bins
        (``streamproc.features``; default the log-mel image). ``follow_level``: the images are
        taken without the input's DC offset and at the gain that brings its loudness to the
        models' (``level.LevelFollower``), the gain carried as ``gain_db``. ``mask_reference``
        False: nothing divides by ``input_features`` (a pitch map), so where the windows agree it
        is the model's own image, not a second one with the offset kept."""
        for name, value in (("feature_window", feature_window), ("reference_window", reference_window)):
            if value not in ("hann", "asymmetric"):
                raise ValueError(f"{name} must be 'hann' or 'asymmetric', not {value!r}")
        super().__init__(cfg)
        self._window, _ = scaled_windows(cfg.n_fft, cfg.hop)
        self.analysis_window = dsp.asymmetric_windows(cfg.n_fft, cfg.hop)[0]
        hann = dsp.analysis_window(cfg.n_fft)
        self._hann = hann * (2.0 / hann.sum())
        self.feature_window, self.reference_window = feature_window, reference_window
        self._mask_reference = mask_reference
        self._features = features or input_features(DEFAULT_KIND, cfg)
        # measured on the asymmetric-window frames, which are computed whatever the model reads
        self.follower = LevelFollower(self._window, cfg.hop, cfg.sample_rate) if follow_level else None
        if self.follower is not None:
            self.writes = ("stft", "features", "input_features", "gain_db")
            self._dc_spectra = {"hann": LevelFollower.dc_spectrum(self._hann),
                                "asymmetric": LevelFollower.dc_spectrum(self._window)}

    def reset(self) -> None:
        super().reset()
        follower: LevelFollower | None = getattr(self, "follower", None)   # None while StftFramer's init resets
        if follower is not None:
            follower.reset()

    def _analyse(self, buf: np.ndarray, n: int) -> Frames:
        c = self.cfg
        spec = dsp._stft_frames(buf, self._window, c.hop, n)
        need_hann = "hann" in (self.feature_window, self.reference_window)
        hann = dsp._stft_frames(buf, self._hann, c.hop, n) if need_hann else spec
        follower = self.follower
        dc, gain_db = follower.measure(spec) if follower is not None else (None, None)

        def image(window: str, less_dc: bool = True) -> np.ndarray:
            under = hann if window == "hann" else spec
            if follower is None or dc is None or gain_db is None:
                return self._features(np.abs(under))
            return self._features(follower.magnitudes(under, self._dc_spectra[window] if less_dc else None, dc, gain_db))

        feat = image(self.feature_window)
        # what a mask divides by keeps the offset, as it stays in the spectrum the mask is applied to
        same = self.reference_window == self.feature_window and (follower is None or not self._mask_reference)
        ref = feat if same else image(self.reference_window, less_dc=False)
        return Frames(stft=spec, features=feat, input_features=ref, gain_db=gain_db)


class StridedChunker:
    """The model with no lookahead, every ``run_every`` hops, on its trained frame spacing.

    Each run's input is the newest ``width`` columns at ``stride``-hop spacing, ending with the
    newest frame; its rightmost output column is the prediction for that frame. With
    ``delay`` 0 it applies to that frame; with ``delay`` d >= 1 the run goes to a worker thread
    (onnxruntime releases the GIL, so it uses another core) and its prediction applies from d
    frames later, when it is collected (waited for if not yet done): the audio path's block
    never carries a whole model run, and only the mask's age grows (by d hops), not the
    latency. A prediction is held until the next one; ``input_features`` of the frame it came
    from is held with it, so a mask compares a prediction with the very column it came from
    (the same image as the model's, but for a DC offset that a level follower took out of the
    model's only). Every frame is computed the
    same way however frames arrive, so output does not depend on block sizes or timing."""

    reads: tuple[str, ...] = ("features", "input_features")
    writes: tuple[str, ...] = ("features", "input_features")
    latency_frames = 0

    def __init__(self, model: FrameModel, stride: int, run_every: int = 1, delay: int = 0,
                 silence: float = -1.0, hold_input: bool = True, hold_from: str = "features") -> None:
        """``hold_input`` False: ``input_features`` passes through (the framer's own column for the
        current frame) instead of the column each prediction came from. ``hold_from``: the field
        whose column is held, ``features`` (the model's very input) or ``input_features`` (the
        same image with the DC offset a level follower took out of the model's)."""
        if hold_from not in ("features", "input_features"):
            raise ValueError(f"hold_from must be 'features' or 'input_features', not {hold_from!r}")
        self.hold_input = hold_input
        self.hold_from = hold_from if hold_input else "features"
        self.writes = ("features", "input_features") if hold_input else ("features",)
        self.reads = tuple(dict.fromkeys(("features", self.hold_from)))
        if stride < 1 or run_every < 1 or delay < 0:
            raise ValueError("stride and run_every must be at least 1, delay at least 0")
        self.model = model
        self.stride, self.run_every, self.delay, self.silence = int(stride), int(run_every), int(delay), silence
        self.width = model.context_frames + model.new_frames + model.lookahead_frames
        self._span = (self.width - 1) * self.stride + 1
        self._back = np.arange(self.width - 1, -1, -1) * self.stride  # oldest column first
        prepare_columns(model, self.width - 1, self.width)
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[tuple[int, Future | np.ndarray, np.ndarray]] = deque()
        self.reset()

    def reset(self) -> None:
        for _, job, _ in self._pending:
            if isinstance(job, Future):
                job.cancel() or job.exception()  # wait for a running one; its result is dropped
        self._pending = deque()
        self._hist = np.full((self._span, self.model.n_inputs), self.silence, np.float32)  # a ring
        self._k = 0
        self._pred = np.full(self.model.n_outputs, self.silence, np.float32)
        self._held_in = np.full(self.model.n_inputs, self.silence, np.float32)

    def close(self) -> None:
        """Stops the worker thread (a later ``process`` starts another)."""
        self.reset()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def __del__(self) -> None:
        pool = getattr(self, "_pool", None)
        if pool is not None:
            pool.shutdown(wait=False)

    def _run(self, window: np.ndarray) -> np.ndarray:
        out = run_columns(self.model, window, self.width - 1, self.width)   # the newest column only
        if out.shape != (self.model.n_outputs, 1):
            raise RuntimeError(f"model returned shape {out.shape}, expected {(self.model.n_outputs, 1)}")
        return out[:, 0].copy()

    def process(self, frames: Frames) -> Frames:
        n = len(frames)
        if not n:
            return frames.with_(features=np.zeros((0, self.model.n_outputs), np.float32),
                                input_features=np.zeros((0, self.model.n_inputs), np.float32))
        cols = np.asarray(frames.get("features"), dtype=np.float32)
        refs = np.asarray(frames.get(self.hold_from), dtype=np.float32)
        preds = np.empty((n, self.model.n_outputs), np.float32)
        held = np.empty((n, self.model.n_inputs), np.float32)
        for i in range(n):
            k = self._k
            self._hist[k % self._span] = cols[i]
            if k % self.run_every == 0:
                window = np.ascontiguousarray(self._hist[(k - self._back) % self._span].T)
                if self.delay:
                    if self._pool is None:
                        self._pool = ThreadPoolExecutor(1, thread_name_prefix="streamproc-model")
                    self._pending.append((k + self.delay, self._pool.submit(self._run, window), refs[i].copy()))
                else:
                    self._pending.append((k, self._run(window), refs[i].copy()))
            while self._pending and self._pending[0][0] <= k:
                _, job, column = self._pending.popleft()
                self._pred = job.result() if isinstance(job, Future) else job
                self._held_in = column
            preds[i], held[i] = self._pred, self._held_in
            self._k += 1
        if not self.hold_input:
            return frames.with_(features=preds)
        return frames.with_(features=preds, input_features=held)


class LiveRestore:
    """GAN-S restoration in the low-delay framing: the restoration net on the descaled
    magnitudes' model band (its trained bins: 0 up to the model rate's Nyquist, at the same
    bin spacing), with no lookahead, on its trained 16 ms frame spacing, every ``run_every``
    hops, on a worker thread like the task model's (:class:`StridedChunker`). Bins above the
    model band, which the mel image never covered, keep their descaled floor."""

    reads: tuple[str, ...] = ("magnitude",)
    writes: tuple[str, ...] = ("magnitude",)
    latency_frames = 0

    def __init__(self, model: FrameModel, cfg: SpectralConfig, stride: int, run_every: int = 1,
                 delay: int = 0, strength: float = 1.0) -> None:
        if model.n_inputs != model.n_outputs or model.n_inputs > cfg.n_bins:
            raise ValueError(f"a restoration model maps its bins to as many, at most {cfg.n_bins} here; "
                             f"this one {model.n_inputs} -> {model.n_outputs}")
        self.cfg, self.bins = cfg, int(model.n_inputs)
        self.strength = check_strength(strength)  # wet/dry, as stages.Restore
        self._chunker = StridedChunker(model, stride, run_every, delay, hold_input=False)

    def reset(self) -> None:
        self._chunker.reset()

    def close(self) -> None:
        self._chunker.close()

    def process(self, frames: Frames) -> Frames:
        if not len(frames):
            return frames
        mag = np.array(frames.get("magnitude"), dtype=np.float64)
        heard = at_followed_level(mag[:, : self.bins], frames)   # as the task model heard its images
        band = dsp.features_from_mel(heard, self.cfg).astype(np.float32)
        pred = self._chunker.process(frames.with_(features=band)).get("features")
        mag[:, : self.bins] = at_input_level(restored_magnitude(pred, heard, self.strength, self.cfg), frames)
        return frames.with_(magnitude=mag)


@numba.njit(cache=True, nogil=True)
def _synth_tail(spec: np.ndarray, window: np.ndarray, span: int, hop: int, tail: np.ndarray) -> np.ndarray:
    """Overlap-add of frames whose synthesis window is nonzero only on its last ``span``
    samples: returns hop samples per frame and updates ``tail`` (the next ``span - hop``)."""
    n_fft = window.shape[0]
    n = spec.shape[0]
    out = np.empty(n * hop)
    for k in range(n):
        frame = np.fft.irfft(spec[k], n_fft)
        seg = np.empty(span)
        for i in range(span):
            seg[i] = frame[n_fft - span + i] * window[n_fft - span + i]
        for i in range(hop):
            out[k * hop + i] = tail[i] + seg[i]
        for i in range(span - hop):
            tail[i] = seg[hop + i]
    return out


class ShortOverlapAdd:
    """Complex frames -> samples with the two-hop synthesis window of ``dsp.asymmetric_windows``.

    After frame k the hop that ends one hop before frame k's end is complete (frames k-1 and k
    overlap on it), so the synthesiser's own latency is one hop."""

    reads = ("stft",)

    def __init__(self, cfg: SpectralConfig) -> None:
        self.cfg = cfg
        self.latency_samples = cfg.hop
        _, self._window = scaled_windows(cfg.n_fft, cfg.hop)
        self.reset()

    def reset(self) -> None:
        self._tail = np.zeros(self.cfg.hop)
        self._skip = self.cfg.hop  # frame 0's first hop lies before time zero

    def process(self, frames: Frames) -> np.ndarray:
        if not len(frames):
            return np.zeros(0)
        c = self.cfg
        out = _synth_tail(np.ascontiguousarray(frames.stft), self._window, 2 * c.hop, c.hop, self._tail)
        if self._skip:
            drop = min(self._skip, len(out))
            self._skip -= drop
            out = out[drop:]
        return out


@numba.njit(cache=True, nogil=True)
def _grain_ola(spec: np.ndarray, weights: np.ndarray, start: int, hop: int, tail: np.ndarray) -> np.ndarray:
    """Overlap-add of two-hop grains cut from each frame's inverse FFT at ``start`` (window-centre
    convention: index 0 is the window's middle; ``start`` may be negative) and weighted by
    ``weights``: returns hop samples per frame and updates ``tail``."""
    n = spec.shape[0]
    n_fft = 2 * (spec.shape[1] - 1)
    out = np.empty(n * hop)
    for k in range(n):
        frame = np.fft.irfft(spec[k], n_fft)
        for i in range(hop):
            out[k * hop + i] = tail[i] + frame[(start + i) % n_fft] * weights[i]
        for i in range(hop):
            tail[i] = frame[(start + hop + i) % n_fft] * weights[hop + i]
    return out


class GrainOverlapAdd:
    """Linear magnitudes -> samples with no lookahead: phases by streaming PGHI
    (``streamproc.pghi``), then a two-hop grain of each frame, ``delay_hops`` hops before its
    window's end, overlap-added under a two-hop Hann.

    The magnitudes describe a Hann window of the models' span (64 ms), whose content sits at
    its centre, ``n_fft / 2`` before the frame's end. A grain read there (``delay_hops`` =
    ``n_fft / hop / 2``) puts each frame's content where it belongs; a grain read later is
    divided by the window's value there, which is exact for a consistent spectrum and costs
    accuracy for an estimated one, for less delay: the synthesiser's latency is
    ``delay_hops`` hops. ``known_bins`` > 0 (superres ``hybrid``): below that bin the input's
    own asymmetric-window spectrum (``stft``) is resynthesised as by :class:`ShortOverlapAdd`,
    delayed to line up, and PGHI fills only the band above."""

    def __init__(self, cfg: SpectralConfig, delay_hops: int, known_bins: int = 0, time_lag: int = 1) -> None:
        """``time_lag``: hops between changes of the magnitudes (the model's ``run_every``)."""
        n, a = cfg.n_fft, cfg.hop
        if n % a or not 1 <= delay_hops <= n // (2 * a):
            raise ValueError(f"delay_hops must be within 1..{n // (2 * a)} for n_fft {n} and hop {a}")
        self.cfg, self.delay_hops, self.known_bins = cfg, int(delay_hops), int(known_bins)
        self.reads: tuple[str, ...] = ("magnitude", "stft") if known_bins else ("magnitude",)
        self.latency_samples = self.delay_hops * a
        centre = n // 2 - self.delay_hops * a  # grain centre, from the window's middle
        self._start = centre - a
        hann = dsp.analysis_window(n) * (2.0 / dsp.analysis_window(n).sum())  # the features' scale
        local = (np.arange(self._start, self._start + 2 * a) + n // 2) % n
        short = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(2 * a) / (2 * a))
        if hann[local].min() <= 0.0:
            raise ValueError("the grain reaches the window's edge")
        self._weights = short / hann[local]
        self._low = ShortOverlapAdd(cfg) if known_bins else None
        from .pghi import StreamingPGHI

        self._pghi = StreamingPGHI(n, a, time_lag=time_lag)
        self.reset()

    def reset(self) -> None:
        a = self.cfg.hop
        self._pghi.reset()
        self._tail = np.zeros(a)
        self._skip = self.latency_samples  # the first frames' grains lie before time zero
        self._low_tail = np.zeros(a)
        self._low_delay = np.zeros((self.delay_hops - 1) * a)  # the known band's extra delay

    def process(self, frames: Frames) -> np.ndarray:
        if not len(frames):
            return np.zeros(0)
        c = self.cfg
        mag = np.array(frames.get("magnitude"), dtype=np.float64)
        if self.known_bins:
            mag[:, : self.known_bins] = 0.0
        out = _grain_ola(self._pghi.push(mag), self._weights, self._start, c.hop, self._tail)
        if self.known_bins:
            low = np.zeros_like(frames.stft)
            low[:, : self.known_bins] = frames.get("stft")[:, : self.known_bins]
            assert self._low is not None
            low_out = _synth_tail(low, self._low._window, 2 * c.hop, c.hop, self._low_tail)
            line = np.concatenate([self._low_delay, low_out])
            self._low_delay = line[len(low_out):]
            out = out + line[: len(low_out)]
        if self._skip:
            drop = min(self._skip, len(out))
            self._skip -= drop
            out = out[drop:]
        return out


# ----------------------------------------------------------------------------- building

@register_lowdelay_recon("mask")
def build_mask(spec: TaskSpec, cfg: SpectralConfig, model: FrameModel,
               restore_model: FrameModel | None = None) -> tuple[list[Any], Any]:
    """The ratio mask on the asymmetric-window spectrum, resynthesised over two hops."""
    kind = getattr(model, "output_kind", "mel")
    if kind != "mel" or model.n_outputs != cfg.n_mels:
        raise UserError(f"task {spec.task} needs a model that outputs a {cfg.n_mels}-band mel image, "
                        f"this one outputs {kind} with {model.n_outputs} rows")
    return [RatioMask(cfg)], ShortOverlapAdd(cfg)


def _grains(spec: TaskSpec, cfg: SpectralConfig, known_bins: int = 0) -> GrainOverlapAdd:
    settings = spec.profile.low_delay
    assert settings is not None
    hops = dict(settings.grain_delays).get(spec.recon, cfg.n_fft // (2 * cfg.hop))
    return GrainOverlapAdd(cfg, hops, known_bins, time_lag=settings.run_every)


@register_lowdelay_recon("gla")
def build_gla(spec: TaskSpec, cfg: SpectralConfig, model: FrameModel,
              restore_model: FrameModel | None = None) -> tuple[list[Any], Any]:
    """The descaled mel, phases by PGHI (no lookahead, no iterations), two-hop grains."""
    return [Descale(cfg)], _grains(spec, cfg)


@register_lowdelay_recon("restore")
def build_restore(spec: TaskSpec, cfg: SpectralConfig, model: FrameModel,
                  restore_model: FrameModel | None = None) -> tuple[list[Any], Any]:
    """GAN-S at low delay: the descaled mel, the restoration net with no lookahead
    (``restore_model`` overrides the shipped one), then ``gla``'s PGHI grains."""
    settings = spec.profile.low_delay
    assert settings is not None
    restorer = restore_model
    if restorer is None:
        restorer = load_restore_model(spec.cfg, threads=settings.model_threads, profile=spec.profile,
                                      task=spec.task)
    _, stride = host_config(spec.cfg, cfg.sample_rate, settings.hop_ms)
    restore = LiveRestore(restorer, cfg, stride, settings.run_every, settings.model_delay,
                          strength=spec.profile.restoration_strength(spec.task))
    return [Descale(cfg), restore], _grains(spec, cfg)


@register_lowdelay_recon("hybrid")
def build_hybrid(spec: TaskSpec, cfg: SpectralConfig, model: FrameModel,
                 restore_model: FrameModel | None = None) -> tuple[list[Any], Any]:
    """The input's own spectrum below the cutoff, the descaled mel with PGHI phases above it."""
    known = int(HYBRID_CUTOFF_HZ * cfg.n_fft / cfg.sample_rate)
    return [Descale(cfg)], _grains(spec, cfg, known)


def build_lowdelay_core(spec: TaskSpec, model: FrameModel, rate: int | None = None,
                        restore_model: FrameModel | None = None) -> Core:
    """The whole low-delay chain at ``rate`` (default: the model rate) for a resolved spec;
    ``restore_model`` as for :func:`streamproc.tasks.build_core`."""
    settings = spec.profile.low_delay
    assert settings is not None, "build_lowdelay_core needs a profile with low_delay settings"
    cfg, stride = host_config(spec.cfg, int(rate or spec.cfg.sample_rate), settings.hop_ms)
    feature_window, reference = settings.feature_window, settings.mask_reference
    fall_ms = kind_window(model_input_kind(model))
    if fall_ms is not None:  # a model trained on this framing's own window reads its image
        if fall_samples(fall_ms, cfg.sample_rate) != cfg.hop:
            raise UserError(f"the model reads images under an asymmetric window falling over {fall_ms:g} ms, "
                            f"but this profile's hop is {1000.0 * cfg.hop / cfg.sample_rate:g} ms")
        feature_window = reference = "asymmetric"
    # the prediction's own column where the windows agree, and for a task without a model (its
    # identity translation must stay transparent)
    hold = reference == feature_window or registry_task(spec.task).model_output is None
    front: list[Any] = [StridedChunker(model, stride, settings.run_every, settings.model_delay, hold_input=hold,
                                       hold_from="input_features" if spec.follow_level else "features")]
    stages, synth = lowdelay_recon(spec.recon)(spec, cfg, model, restore_model)
    framer = LowDelayFramer(cfg, feature_window, reference, model_features(model, cfg), spec.follow_level,
                            mask_reference=getattr(model, "output_kind", "mel") == "mel")
    return Core(cfg, [*front, *stages], synth, framer=framer)
