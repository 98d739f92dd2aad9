"""Which stages make up each task and reconstruction (``--task`` x ``--recon``)."""
from __future__ import annotations

from dataclasses import dataclass

from .config import DEFAULT, SpectralConfig
from .engine import Core
from .errors import UserError
from .frame_model import FrameModel, IdentityModel
from .stages import Chunker, Descale, GriffinLim, MelFeatures, OverlapAdd, RatioMask

# task -> reconstructions it offers; the first listed is the default
RECONS: dict[str, tuple[str, ...]] = {
    "resynth": ("gla", "mask"),   # identity model: what the reconstruction alone costs
    "separate": ("gla", "mask"),  # the following need a trained model (--model until shipped)
    "superres": ("gla",),
    "synth": ("gla",),
}
TASKS = tuple(RECONS)
MODEL_TASKS = ("separate", "superres", "synth")

GLA_LOOKAHEAD = 3
GLA_ITERATIONS = 6  # bench.phase: -31.8 dB at 0.49 ms/frame (8: -33.3 dB at 0.60 ms)


@dataclass(frozen=True)
class TaskSpec:
    task: str
    recon: str
    cfg: SpectralConfig


def resolve(task: str, recon: str | None) -> TaskSpec:
    if task not in RECONS:
        raise UserError(f"unknown task {task!r} (choose from {', '.join(TASKS)})")
    recons = RECONS[task]
    recon = recon or recons[0]
    if recon not in recons:
        raise UserError(f"--recon {recon} is not available for task {task} (choose from {', '.join(recons)})")
    return TaskSpec(task, recon, DEFAULT)


def build_core(spec: TaskSpec, model: FrameModel | None = None) -> Core:
    cfg = spec.cfg
    if model is None:
        if spec.task in MODEL_TASKS:
            raise UserError(f"no trained model for task {spec.task} ships with this version yet; "
                            f"pass one with --model FILE.onnx (see models/README.md)")
        model = IdentityModel(cfg.n_mels)
    kind = getattr(model, "output_kind", "mel")
    if kind != "mel" or model.n_outputs != cfg.n_mels:
        raise UserError(f"task {spec.task} needs a model that outputs a {cfg.n_mels}-band mel image, "
                        f"this one outputs {kind} with {model.n_outputs} rows")
    stages = [MelFeatures(cfg), Chunker(model)]
    if spec.recon == "mask":
        stages.append(RatioMask(cfg))
    elif spec.recon == "gla":
        stages += [Descale(cfg), GriffinLim(cfg, GLA_LOOKAHEAD, GLA_ITERATIONS)]
    else:  # pragma: no cover - resolve() guards this
        raise UserError(f"unknown recon {spec.recon!r}")
    return Core(cfg, stages, OverlapAdd(cfg))
