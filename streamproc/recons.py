"""The built-in reconstructions: what follows a task's model in the frame chain.

Each is one builder, ``(spec, restore_model) -> (frame stages, synthesiser)``, registered
under its ``--recon`` name. The tasks that offer it list it (``streamproc.tasks``).
"""
from __future__ import annotations

from typing import Any

from .frame_model import FrameModel
from .registry import register_recon
from .spec import (HYBRID_CUTOFF_HZ, VOCODER_TEMPERATURE, TaskSpec, load_restore_model,
                   load_shipped_vocoder)
from .stages import Descale, GriffinLim, OverlapAdd, RatioMask, Restore

Parts = tuple[list[Any], Any]  # (frame stages after the model, synthesiser)


def _griffin_lim(spec: TaskSpec, known_bins: int = 0) -> GriffinLim:
    prof = spec.profile
    return GriffinLim(spec.cfg, prof.gla_lookahead, prof.gla_iterations, known_bins=known_bins)


@register_recon("mask")
def build_mask(spec: TaskSpec, restore_model: FrameModel | None = None) -> Parts:
    """A ratio mask on the input's own spectrum (input phase)."""
    return [RatioMask(spec.cfg)], OverlapAdd(spec.cfg)


@register_recon("gla")
def build_gla(spec: TaskSpec, restore_model: FrameModel | None = None) -> Parts:
    """Descale the mel and reconstruct phase by streaming Griffin-Lim (GAN-S without restoration)."""
    return [Descale(spec.cfg), _griffin_lim(spec)], OverlapAdd(spec.cfg)


@register_recon("restore")
def build_restore(spec: TaskSpec, restore_model: FrameModel | None = None) -> Parts:
    """GAN-S: descale, the restoration cGAN on linear bins (``restore_model`` overrides the
    shipped one), then Griffin-Lim."""
    cfg, prof = spec.cfg, spec.profile
    restorer = restore_model if restore_model is not None else load_restore_model(cfg, profile=prof, task=spec.task)
    return ([Descale(cfg), Restore(restorer, cfg, new=prof.restore_new, lookahead=prof.restore_lookahead,
                                   strength=prof.restoration_strength(spec.task)),
             _griffin_lim(spec)], OverlapAdd(cfg))


@register_recon("hybrid")
def build_hybrid(spec: TaskSpec, restore_model: FrameModel | None = None) -> Parts:
    """The input's own spectrum below the cutoff, the descaled mel above it (superres).

    Without restoration: on the test split the restoration net made the filled-in 2-8 kHz band
    worse (LSD80 1.18 vs 1.11); it was trained on descaled true mels, not on a band the
    superres model invented."""
    cfg = spec.cfg
    known = int(HYBRID_CUTOFF_HZ * cfg.n_fft / cfg.sample_rate)
    return [Descale(cfg), _griffin_lim(spec, known_bins=known)], OverlapAdd(cfg)


def _wavenet(spec: TaskSpec, guide: float | None) -> Parts:
    from .wavenet import WaveNetSynth  # Numba kernels, compiled on first use

    return [], WaveNetSynth(load_shipped_vocoder(), spec.cfg, guide, temperature=VOCODER_TEMPERATURE)


@register_recon("wavenet")
def build_wavenet(spec: TaskSpec, restore_model: FrameModel | None = None) -> Parts:
    """GAN-WN: the vocoder hears the translated mel image itself."""
    return _wavenet(spec, None)


@register_recon("wavenet-guided")
def build_wavenet_guided(spec: TaskSpec, restore_model: FrameModel | None = None) -> Parts:
    """GAN-WN teacher-forced towards the input (superres: the known low band) at every sample."""
    return _wavenet(spec, spec.guide_weight)
