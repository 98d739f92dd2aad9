"""The built-in tasks, and ``build_core``: a task's front joined to a reconstruction, by lookup.

A task registers the front of its chain (features and model) and the reconstructions it
offers, default first; a reconstruction registers the stages after the model and the
synthesiser (``streamproc.recons``; pitch's ``sine`` in ``streamproc.pitch_stages``).
Importing this module registers all of them; the tasks are listed here, in the CLI's order.
"""
from __future__ import annotations

from typing import Any

from . import recons as _recons  # noqa: F401 (registers the built-in reconstructions)
from .pitch_stages import build_pitch_front  # and registers ``sine``
from .engine import Core, Engine
from .lowdelay import build_lowdelay_core  # and registers its ``mask``
from .errors import UserError
from .features import kind_window, model_features, model_input_kind
from .frame_model import FrameModel, IdentityModel
from .registry import RECONS, model_tasks, recon, register_task, task, task_names  # noqa: F401 (the task API)
from .spec import (GUIDE_WEIGHT, HYBRID_CUTOFF_HZ, OFFLINE_PROFILE, PROFILES, RESTORE_MODEL,  # noqa: F401
                   VOCODER_FILE, VOCODER_TEMPERATURE, Profile, TaskSpec, load_restore_model,
                   load_shipped_vocoder, resolve, shipped_model, shipped_vocoder, task_model)
from .stages import model_input_stage, task_chunker


def build_mel_front(spec: TaskSpec, model: FrameModel) -> list[Any]:
    """mel -> a model that translates it into another mel image (chunked as the profile says)."""
    cfg = spec.cfg
    kind = getattr(model, "output_kind", "mel")
    if kind != "mel" or model.n_outputs != cfg.n_mels:
        raise UserError(f"task {spec.task} needs a model that outputs a {cfg.n_mels}-band mel image, "
                        f"this one outputs {kind} with {model.n_outputs} rows")
    kind = model_input_kind(model)
    if kind_window(kind) is not None:
        raise UserError(f"this {spec.task} model reads {kind} images, taken under the live profile's asymmetric "
                        f"window: run it with --profile live")
    return [model_input_stage(cfg, model_features(model, cfg), spec.follow_level),
            task_chunker(model, spec.profile, spec.task, spec.recon)]


# task -> reconstructions it offers; the first listed is the default
# identity model: what the reconstruction alone costs
register_task("resynth", ("gla", "mask", "restore", "wavenet"), build_mel_front, model_output=None,
              needs_model=False)
# defaults by the test-split figures (python -m bench.quality; models_data/*.md):
# SI-SDR 12.6 dB, LSD80 0.51 (restore 0.80, gla 0.85)
register_task("separate", ("mask", "restore", "gla", "wavenet"), build_mel_front)
# hybrid keeps the input's exact low band
register_task("superres", ("hybrid", "gla", "restore", "wavenet", "wavenet-guided"), build_mel_front)
# gla first for low-latency and live; quality and default name restore (Profile.recons: log-mel
# L1 7.9 vs 9.0 dB in quality, melody RPA 0.888 vs 0.874)
register_task("synth", ("gla", "restore", "wavenet"), build_mel_front)
# mel -> pitch map -> f0 per frame, sonified as a sine (streamproc.pitch for files)
register_task("pitch", ("sine",), build_pitch_front, model_output="pitchmap")
TASKS = task_names()            # the built-in tasks (registry.task_names() also sees later ones)
MODEL_TASKS = model_tasks()     # those that need a trained model


def build_core(spec: TaskSpec, model: FrameModel | None = None, restore_model: FrameModel | None = None,
               rate: int | None = None) -> Core:
    """The frame-domain chain for a task and reconstruction: the task's front (features and
    model), then the reconstruction's stages and synthesiser. ``model`` None: the shipped one
    must have been resolved by the caller (``task_model``); tasks without a model run the
    identity. ``restore_model`` is handed to the reconstruction's builder: ``restore`` runs it
    instead of the shipped restoration model; every other one (``hybrid`` among them, which
    runs no restoration net) ignores it. ``rate``: the host rate, which only a low-delay profile
    (``live``) uses: its core runs at that rate (default: the model rate); the standard framing
    always runs at the model rate and the engine resamples."""
    entry = task(spec.task)
    if model is None:
        if entry.needs_model:
            raise UserError(f"no trained model for task {spec.task} ships with this version yet; "
                            f"pass one with --model FILE.onnx (see models/README.md)")
        model = IdentityModel(spec.cfg.n_mels)
    if spec.profile.low_delay is not None:
        return build_lowdelay_core(spec, model, rate, restore_model)
    front = entry.build_front(spec, model)
    stages, synth = recon(spec.recon).build(spec, restore_model)
    bind = getattr(synth, "bind", None)
    if bind is not None:  # a synthesiser whose timing depends on the stages before it (SineSynth)
        bind([*front, *stages])
    return Core(spec.cfg, [*front, *stages], synth)


def build_engine(spec: TaskSpec, model: FrameModel | None, in_rate: int, out_rate: int | None = None,
                 restore_model: FrameModel | None = None) -> Engine:
    """One channel's engine for a task, at host rate(s)."""
    return Engine(build_core(spec, model, restore_model, in_rate), in_rate, out_rate, spec.profile.resample_quality)
