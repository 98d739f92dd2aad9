"""Which stages make up each task and reconstruction (``--task`` x ``--recon``)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .config import DEFAULT, SpectralConfig
from .engine import Core, Engine
from .errors import UserError
from .frame_model import FrameModel, IdentityModel
from .onnx_model import MODELS_DIR
from .stages import Chunker, Descale, GriffinLim, MelFeatures, OverlapAdd, RatioMask, Restore

# task -> reconstructions it offers; the first listed is the default
RECONS: dict[str, tuple[str, ...]] = {
    "resynth": ("gla", "mask", "restore", "wavenet"),  # identity model: what the reconstruction alone costs
    # defaults by the test-split figures (python -m bench.quality; models_data/*.md):
    "separate": ("mask", "restore", "gla", "wavenet"),  # SI-SDR 12.6 dB, LSD80 0.51 (restore 0.80, gla 0.85)
    "superres": ("hybrid", "gla", "restore", "wavenet", "wavenet-guided"),  # keeps the input's exact low band
    "synth": ("gla", "restore", "wavenet"),     # log-mel L1 8.9 dB (restore 9.5), melody RPA 0.81 (0.76)
    "pitch": ("sine",),          # the tracked f0 sonified as a sine (streamproc.pitch)
}
TASKS = tuple(RECONS)
MODEL_TASKS = ("separate", "superres", "synth", "pitch")



RESTORE_MODEL = "restore"          # models_data/restore.onnx: the GAN-S restoration cGAN
VOCODER_FILE = "vocoder.npz"       # models_data/vocoder.npz: the GAN-WN vocoder (streamproc.wavenet)
VOCODER_TEMPERATURE = 0.1          # sampling temperature: the best of 1.0-0.1 on train-split clips (models_data/vocoder.md)
GUIDE_WEIGHT = 0.5                 # wavenet-guided: w in  w * guide + (1 - w) * prediction
HYBRID_CUTOFF_HZ = 1800.0          # superres input is band-limited at 2 kHz (4 kHz rate); soxr's
                                   # passband ends a little below, so the known band stops here


def shipped_model(task: str) -> Path | None:
    """The trained model that ships for a task (``models_data/<task>.onnx``), if any."""
    path = MODELS_DIR / f"{task}.onnx"
    return path if task in (*MODEL_TASKS, RESTORE_MODEL) and path.is_file() else None


def task_model(task: str, model: FrameModel | str | Path | None = None,
               cfg: SpectralConfig = DEFAULT) -> FrameModel | None:
    """The model a task runs: ``model`` itself if it is one, else the ONNX file it names, else
    the shipped one; None where the task ships none. Files are checked against ``cfg``."""
    if model is not None and not isinstance(model, (str, Path)):
        return model
    path = model or shipped_model(task)
    if path is None:
        return None
    from .onnx_model import load_model  # optional runtime piece, imported on demand

    return load_model(path, task=task, sample_rate=cfg.sample_rate, cfg=cfg)


def load_restore_model(cfg: SpectralConfig) -> FrameModel:
    """The shipped restoration model for ``--recon restore``."""
    model = task_model(RESTORE_MODEL, None, cfg)
    if model is None:
        raise UserError("no restoration model ships with this version; use --recon gla")
    return model


def shipped_vocoder() -> Path | None:
    """The GAN-WN vocoder that ships (``models_data/vocoder.npz``), if any."""
    path = MODELS_DIR / VOCODER_FILE
    return path if path.is_file() else None


@lru_cache(maxsize=1)
def load_shipped_vocoder():
    """The GAN-WN vocoder, read once per process (its weights are shared, generators are not)."""
    from .wavenet import VocoderError, load_vocoder  # Numba kernels, compiled on first use

    path = shipped_vocoder()
    if path is None:
        raise UserError("no WaveNet vocoder ships with this version; use another --recon")
    try:
        return load_vocoder(path)
    except VocoderError as e:
        raise UserError(str(e)) from None


@dataclass(frozen=True)
class Profile:
    """Latency-versus-quality settings that need no retraining."""
    gla_lookahead: int          # frames of future the streaming Griffin-Lim waits for
    gla_iterations: int
    resample_quality: str       # soxr quality of the host <-> 16 kHz resamplers
    chunk_new: int | None       # override a model's chunking (frames per run, lookahead);
    chunk_lookahead: int | None  # None keeps the model's own. Window width never changes.
    live_margin_ms: float       # live pre-buffer beyond the engine latency + one block
    restore_new: int = 4        # GAN-S restoration chunking (frames per run, lookahead): it is
    restore_lookahead: int = 4  # local in time; on the bundled clips 4 + 4 scored no worse LSD
                                # than the window's own 8 + 16, at 256 ms less latency
    task_chunks: tuple = ()     # (task, new, lookahead): a task's own re-chunking
    recon_chunks: tuple = ()    # (recon, new, lookahead): a reconstruction's, after task_chunks

    def chunking(self, task: str, recon: str | None = None) -> tuple[int | None, int | None]:
        """(frames per model run, lookahead) for a task's model; (None, None) = its own."""
        for name, new, lookahead in self.task_chunks:
            if name == task:
                return new, lookahead
        for name, new, lookahead in self.recon_chunks:
            if name == recon:
                return new, lookahead
        return self.chunk_new, self.chunk_lookahead


PROFILES: dict[str, Profile] = {
    # Latency (16 kHz) = hop 16 ms (framing) + model chunking (new - 1 + lookahead) x 16 ms
    # [+ restoration chunking] [+ Griffin-Lim lookahead x 16 ms] + the synthesis window's
    # 48 ms (overlap-add; 32 ms WaveNet, 48 guided, 32 ms sine); at 44.1/48 kHz add soxr both ways
    # (HQ about 74 ms at 48 kHz, LQ about 41). Quality per profile: README, bench.quality.
    #
    # live and Processor default: every pipeline within 200 ms at 16-48 kHz. The models run on
    # their whole trained window, re-chunked to 2 new + 2 lookahead frames (first 6 test clips:
    # separate/mask 11.0 dB SI-SDR vs 12.3 at the models' own 8 + 16; superres and synth move
    # by less than 0.1 LSD80 / 0.6 dB); Griffin-Lim lookahead 1 (bench.phase: -31.7 dB SC vs
    # -33.8 at 3); soxr LQ; the restoration net 2 new + 0 lookahead.
    # pitch runs its model every 6 frames with 1 of lookahead: the same latency budget, a third
    # of the model runs (pitch's real-time-factor target is 0.03)
    "default": Profile(1, 8, "LQ", 2, 2, 40.0, restore_new=2, restore_lookahead=0, task_chunks=(("pitch", 6, 1),)),
    # 80 ms at 16 kHz for every pipeline but restore's: the one frame of lookahead goes where it
    # buys most. mask and wavenet give it to the model (1 new + 1 lookahead); the Griffin-Lim
    # pipelines give it to Griffin-Lim and run the model without lookahead (first 6 test clips:
    # synth/gla log-mel L1 9.0 dB vs 11.9 the other way round, separate/gla LSD80 0.90 vs 1.00;
    # separate/mask keeps 9.8 dB SI-SDR vs 8.2). restore: 128 ms, its net every 4 frames (every
    # 2, beside a task model every frame, measured 0.15-0.21 real-time factor, over GAN-S's
    # 0.15). The 64 ms of the n_fft-1024 windows and the resampling keep 44.1/48 kHz above 80.
    "low-latency": Profile(1, 8, "LQ", 1, 1, 15.0, restore_new=4, restore_lookahead=0,
                           task_chunks=(("pitch", 3, 0),),
                           recon_chunks=(("gla", 1, 0), ("hybrid", 1, 0), ("restore", 1, 0))),
    # offline rendering (render's default: latency is compensated there and costs nothing):
    # the models' own chunking (8 new + 16 lookahead), Griffin-Lim lookahead 3, soxr HQ
    "quality": Profile(3, 6, "HQ", None, None, 40.0),
}
OFFLINE_PROFILE = "quality"


@dataclass(frozen=True)
class TaskSpec:
    task: str
    recon: str
    cfg: SpectralConfig
    profile: Profile = PROFILES["default"]
    profile_name: str = "default"
    guide_weight: float = GUIDE_WEIGHT   # wavenet-guided only


def resolve(task: str, recon: str | None, profile: str = "default", guide_weight: float | None = None) -> TaskSpec:
    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r} (choose from {', '.join(PROFILES)})")
    if task not in RECONS:
        raise UserError(f"unknown task {task!r} (choose from {', '.join(TASKS)})")
    recons = RECONS[task]
    recon = recon or recons[0]
    if recon not in recons:
        raise UserError(f"--recon {recon} is not available for task {task} (choose from {', '.join(recons)})")
    if guide_weight is None:
        guide_weight = GUIDE_WEIGHT
    elif recon != "wavenet-guided":
        raise UserError("--guide-weight applies to --recon wavenet-guided only")
    elif not 0.0 <= guide_weight <= 1.0:
        raise UserError(f"--guide-weight must be within [0, 1], got {guide_weight}")
    return TaskSpec(task, recon, DEFAULT, PROFILES[profile], profile, float(guide_weight))


def build_core(spec: TaskSpec, model: FrameModel | None = None, restore_model: FrameModel | None = None) -> Core:
    """The frame-domain chain for a task and reconstruction. ``restore_model`` overrides the
    shipped restoration model (``restore`` and ``hybrid`` only)."""
    cfg = spec.cfg
    if model is None:
        if spec.task in MODEL_TASKS:
            raise UserError(f"no trained model for task {spec.task} ships with this version yet; "
                            f"pass one with --model FILE.onnx (see models/README.md)")
        model = IdentityModel(cfg.n_mels)
    if spec.task == "pitch":
        from .pitch import build_pitch_core

        return build_pitch_core(spec, model)
    kind = getattr(model, "output_kind", "mel")
    if kind != "mel" or model.n_outputs != cfg.n_mels:
        raise UserError(f"task {spec.task} needs a model that outputs a {cfg.n_mels}-band mel image, "
                        f"this one outputs {kind} with {model.n_outputs} rows")
    prof = spec.profile
    new, lookahead = prof.chunking(spec.task, spec.recon)
    stages = [MelFeatures(cfg), Chunker(model, new=new, lookahead=lookahead)]
    if spec.recon == "mask":
        stages.append(RatioMask(cfg))
    elif spec.recon == "gla":
        stages += [Descale(cfg), GriffinLim(cfg, prof.gla_lookahead, prof.gla_iterations)]
    elif spec.recon == "restore":
        restorer = restore_model if restore_model is not None else load_restore_model(cfg)
        stages += [Descale(cfg), Restore(restorer, cfg, new=prof.restore_new, lookahead=prof.restore_lookahead),
                   GriffinLim(cfg, prof.gla_lookahead, prof.gla_iterations)]
    elif spec.recon == "hybrid":
        # the upper band from the descaled mel, without restoration: on the test split the
        # restoration net made the filled-in 2-8 kHz band worse (LSD80 1.18 vs 1.11); it was
        # trained on descaled true mels, not on a band the superres model invented
        known = int(HYBRID_CUTOFF_HZ * cfg.n_fft / cfg.sample_rate)
        stages += [Descale(cfg), GriffinLim(cfg, prof.gla_lookahead, prof.gla_iterations, known_bins=known)]
    elif spec.recon in ("wavenet", "wavenet-guided"):
        # GAN-WN: the vocoder hears the translated mel image itself; guided, it is teacher-forced
        # towards the input (superres: the known low band) at every sample
        from .wavenet import WaveNetSynth

        guide = spec.guide_weight if spec.recon == "wavenet-guided" else None
        return Core(cfg, stages, WaveNetSynth(load_shipped_vocoder(), cfg, guide, temperature=VOCODER_TEMPERATURE))
    else:  # pragma: no cover - resolve() guards this
        raise UserError(f"unknown recon {spec.recon!r}")
    return Core(cfg, stages, OverlapAdd(cfg))


def build_engine(spec: TaskSpec, model: FrameModel | None, in_rate: int, out_rate: int | None = None,
                 restore_model: FrameModel | None = None) -> Engine:
    """One channel's engine for a task, at host rate(s)."""
    return Engine(build_core(spec, model, restore_model), in_rate, out_rate, spec.profile.resample_quality)
