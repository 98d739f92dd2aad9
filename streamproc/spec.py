"""What a run is asked to do: a task, a reconstruction, a latency profile (``TaskSpec``), and
where its models come from. Below ``tasks`` (which builds the stages), so anything can import it.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from . import registry
from .config import DEFAULT, SpectralConfig
from .errors import UserError
from .frame_model import FrameModel
from .onnx_model import MODELS_DIR

if TYPE_CHECKING:
    from .wavenet import Vocoder

RESTORE_MODEL = "restore"          # models_data/restore.onnx: the GAN-S restoration cGAN
VOCODER_FILE = "vocoder.npz"       # models_data/vocoder.npz: the GAN-WN vocoder (streamproc.wavenet)
VOCODER_TEMPERATURE = 0.1          # sampling temperature: the best of 1.0-0.1 on train-split clips (models_data/vocoder.md)
GUIDE_WEIGHT = 0.5                 # wavenet-guided: w in  w * guide + (1 - w) * prediction
HYBRID_CUTOFF_HZ = 1800.0          # superres input is band-limited at 2 kHz (4 kHz rate); soxr's
                                   # passband ends a little below, so the known band stops here


@dataclass(frozen=True)
class LowDelay:
    """The low-delay framing's settings (``streamproc.lowdelay``): the core runs at the host
    rate on ``hop_ms`` hops with a two-hop synthesis window, the model without lookahead."""
    hop_ms: float = 4.0   # analysis/synthesis hop; latency is two of them
    run_every: int = 1    # the model runs every this many hops; its prediction is held between
    model_delay: int = 0  # >= 1: the model runs on a worker thread, its prediction applies this
                          # many hops later (the mask ages, the latency does not grow)
    feature_window: str = "hann"  # the models' features under the training window ("hann"), or
                                  # under the asymmetric one ("asymmetric": weighted to the newest hop)
    mask_reference: str = "asymmetric"  # the mixture column a mask divides by: under the window of
                                        # the spectrum it is applied to ("asymmetric"), or of the
                                        # model's input ("hann": the prediction's own column, held)
    model_threads: int = 1  # onnxruntime intra-op threads per model: each model already runs on a
                            # worker thread of its own, and the audio thread needs a core too
    grain_delays: tuple[tuple[str, int], ...] = ()  # (recon, hops): where a PGHI reconstruction reads
                                                    # each frame's grain, in hops before the window's
                                                    # end (its latency); default: the window's centre


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
    restore_strength: float = 1.0  # the restoration net's wet/dry (stages.Restore): below 1 where it
                                   # runs with less lookahead than it was trained with
    restore_strengths: tuple[tuple[str, float], ...] = ()  # (task, strength): a task's own, where it differs
    task_chunks: tuple[tuple[str, int, int], ...] = ()   # (task, new, lookahead): a task's own re-chunking
    recon_chunks: tuple[tuple[str, int, int], ...] = ()  # (recon, new, lookahead): a reconstruction's, after task_chunks
    models: tuple[tuple[str, str], ...] = ()  # (task or "task/recon", file stem in models_data): a
                                              # model for this profile (under that recon), used where it ships
    recons: tuple[tuple[str, str], ...] = ()  # (task, recon): this profile's default reconstruction
                                              # for a task, where it is not the task's first
    later_weight: float | None = None  # the task model's chunker: the later run's share of each
                                       # frame two runs predict (stages.Chunker); None: a linear ramp
    later_weights: tuple[tuple[str, float | None], ...] = ()  # (task, weight): a task's own, where it differs
    low_delay: LowDelay | None = None  # set: the low-delay framing (no resamplers, 4 ms hops) replaces
                                       # the standard one, and the fields above except live_margin_ms
                                       # do not apply
    level_tasks: tuple[str, ...] = ("pitch", "superres")  # where a streaming host (Processor, live) follows the
                                       # input's level unless told (level.streaming_level): python -m bench.level
                                       # --host stream, auto against off at each peak

    def restoration_strength(self, task: str) -> float:
        """The restoration net's wet/dry behind ``task``'s model: its own, else the profile's."""
        return dict(self.restore_strengths).get(task, self.restore_strength)

    def later_run_weight(self, task: str) -> float | None:
        """The later run's share where two runs of ``task``'s model overlap: its own, else the profile's."""
        return dict(self.later_weights).get(task, self.later_weight)

    def chunking(self, task: str, recon: str | None = None) -> tuple[int | None, int | None]:
        """(frames per model run, lookahead) for a task's model; (None, None) = its own."""
        for name, new, lookahead in self.task_chunks:
            if name == task:
                return new, lookahead
        for name, new, lookahead in self.recon_chunks:
            if name == recon:
                return new, lookahead
        return self.chunk_new, self.chunk_lookahead

    def default_recon(self, task: str) -> str | None:
        """The reconstruction this profile runs for ``task`` when none is asked for; None: the task's first."""
        return dict(self.recons).get(task)


PROFILES: dict[str, Profile] = {
    # Latency (16 kHz) = hop 16 ms (framing) + model chunking (new - 1 + lookahead) x 16 ms
    # [+ restoration chunking, less where its batches line up with the model's: the engine
    # computes the chain's exact worst case] [+ Griffin-Lim lookahead x 16 ms] + the synthesis window's
    # 48 ms (overlap-add; 32 ms WaveNet, 48 guided, 32 ms sine); at 44.1/48 kHz add soxr both ways
    # (HQ about 74 ms at 48 kHz, LQ about 41, QQ about 1). Quality per profile: README, bench.quality.
    #
    # live and Processor default: every pipeline within 200 ms heard at 44.1/48 kHz with
    # 256-sample blocks (engine + live pre-buffer + PortAudio's block; streamproc.live). The models run on
    # their whole trained window, re-chunked to 2 new + 2 lookahead frames (first 6 test clips:
    # separate/mask 11.0 dB SI-SDR vs 12.3 at the models' own 8 + 16; superres and synth move
    # by less than 0.1 LSD80 / 0.6 dB); Griffin-Lim lookahead 1 (bench.phase: -31.7 dB SC vs
    # -33.8 at 3); the restoration net 2 new + 0 lookahead. soxr QQ (cubic interpolation,
    # 1 ms both ways against LQ's 41 ms at 48 kHz): with LQ, pitch is heard at 235 ms (restore
    # at 219). What QQ costs (python -m bench.resample): a 48 kHz violin clip through 16 kHz and
    # back keeps 31.6 dB SNR in 0-7 kHz (LQ 34.0), images above 8 kHz at -33.2 dB (LQ -83.9).
    # The quality figures (bench.quality, 16 kHz clips) run no resampler, so QQ does not show there.
    # pitch runs its model every 6 frames with 1 of lookahead: the same latency budget, a third
    # of the model runs (pitch's real-time-factor target is 0.03)
    # The restoration net, with no lookahead here (it trained with 16 frames), runs at strength
    # 0.4 (stages.Restore): on 12 seed-1 test clips per task its full output lost to gla on
    # separate and superres (LSD80 0.899 vs 0.852, 1.210 vs 1.145); at 0.4 it wins on all three
    # (0.808, 1.141; synth 1.283 vs 1.344). Chosen there; the README's figures are seed 0.
    # synth runs gla here since its fourth-round model (20 seed-0 test clips, gla vs restore:
    # log-mel L1 8.89 vs 8.93 dB, LSD80 1.133 vs 1.125, melody RPA 0.916 vs 0.918, RTF 0.052 vs
    # 0.099): level on quality at half the cost. With the previous model restore won (9.26 vs 9.65).
    # superres has its own strength, 0.2, in default, low-latency and quality: behind its third-round
    # model the net at the profile's strength lost to gla (seed-1 clips, 12, LSD80 in default /
    # low-latency / quality: gla 1.0005 / 1.0293 / 0.9767; strength 0.4: 1.0043 / 1.0315; 0.3:
    # 0.9996 / 1.0281 / 0.9727; 0.2: 0.9970 / 1.0268 / 0.9729; 0.5 in quality 0.9763): the net
    # adds little to that model's smooth upper band, and only a little of it helps
    # The task model's runs overlap: each frame of a run's 2 new ones was the run before's
    # lookahead. A linear crossfade gave the earlier run (2 frames less of the future) 2/3 of the
    # first; since 2026-12-07 (fourteenth round) the later run has 0.85 of both (later_weight;
    # low-latency below, where the ramp split 1/2, 1.0). separate/mask on 20-clip seed-2 sets, mean
    # of 6 default / 4 low-latency sets: ramp 10.46 / 13.04 dB, 0.75 10.59 / 13.18, 0.85 10.64 /
    # 13.22, 1.0 10.67 / 13.28 but full-band LSD +0.04-0.06 on the FM timbre (seams); confirmed
    # on seeds 0 and 1 (models_data/separate.md, fourteenth round). 12 seed-1 clips per task and
    # soundfont (FluidR3_GM, MuseScore_General_Lite), default, ramp vs 0.85: superres hybrid
    # LSD80 0.965 / 0.991 vs 0.959 / 0.987; pitch RPA 0.936 / 0.937 vs 0.938 / 0.937; synth gla
    # log-mel L1 8.79 / 9.39 vs 8.69 / 9.27 dB but LSD80 1.137 / 1.191 vs 1.141 / 1.192: worse
    # on one of its two measures. synth's own, 0.7 (a second rule, 0.6 and 0.7 against the ramp):
    # 8.70 / 9.29 dB, LSD80 1.135 / 1.187; confirmed on 20 seed-0 clips per soundfont: 8.81 / 9.50
    # vs 8.89 / 9.60, LSD80 1.133 / 1.198 vs 1.133 / 1.201, melody RPA 0.917 / 0.915 vs 0.916 / 0.913
    "default": Profile(1, 8, "QQ", 2, 2, 40.0, restore_new=2, restore_lookahead=0, restore_strength=0.4,
                       restore_strengths=(("superres", 0.2),), task_chunks=(("pitch", 6, 1),), later_weight=0.85,
                       later_weights=(("synth", 0.7),)),
    # 80 ms at 16 kHz for every pipeline but restore's: the one frame of lookahead goes where it
    # buys most. mask and wavenet give it to the model (1 new + 1 lookahead); the Griffin-Lim
    # pipelines give it to Griffin-Lim and run the model without lookahead (first 6 test clips:
    # synth/gla log-mel L1 9.0 dB vs 11.9 the other way round, separate/gla LSD80 0.90 vs 1.00;
    # separate/mask keeps 9.8 dB SI-SDR vs 8.2). restore: 128 ms, its net every 4 frames (every
    # 2, beside a task model every frame, measured 0.15-0.21 real-time factor, over GAN-S's
    # 0.15). The 64 ms of the n_fft-1024 windows and the rounding to host samples keep 44.1/48 kHz
    # just above 80; soxr QQ as in default.
    # Restoration strength 0.4 as in default (seed-1 clips: separate 0.829 vs gla 0.877, synth
    # 1.280 vs 1.338; superres 1.188 vs 1.182, still behind gla at any strength).
    # The model's runs overlap by 1 frame: the later run gives all of it (later_weight 1.0: the
    # earlier run's prediction had no lookahead). separate/mask, seed 2, mean of 4 sets: ramp
    # 13.04, 0.85 13.22, 1.0 13.28 dB, full-band LSD lower on every set (default's FM seams do not
    # show here); seeds 0 and 1: 1.0 above 0.85 on all 8 sets, unseen top 13.16 vs 13.10 (ramp 12.92)
    "low-latency": Profile(1, 8, "QQ", 1, 1, 15.0, restore_new=4, restore_lookahead=0, restore_strength=0.4,
                           restore_strengths=(("superres", 0.2),), task_chunks=(("pitch", 3, 0),), later_weight=1.0,
                           later_weights=(("synth", None),),
                           recon_chunks=(("gla", 1, 0), ("hybrid", 1, 0), ("restore", 1, 0)),
                           # synth's gla and restore run its model without lookahead: synth-live,
                           # trained for that (models_data/synth-live.md); wavenet keeps its lookahead
                           models=(("synth", "synth-live"), ("synth/wavenet", "synth"),
                                   ("synth/wavenet-guided", "synth"))),
    # offline rendering (render's default: latency is compensated there and costs nothing):
    # the models' own chunking (8 new + 16 lookahead), Griffin-Lim lookahead 3, soxr HQ
    # separate: separate-wide, which the real-time profiles cannot afford (the wider U-Net alone
    # measured RTF 0.15 in default) but offline rendering can; since 2026-12-07 (thirteenth
    # round) the mean of three nets' masks, two wide and the small separate.onnx: +0.12..+0.23 dB
    # on the sampled test sets, +0.8..+1.3 on an FM timbre (models_data/separate-wide.md)
    # pitch: pitch.onnx averaged with two more nets, one trained with its loss weighted at note
    # changes, one from another seed (pitch-ensemble, export.ensemble): three times the model
    # time, RPA +0.004-0.005 on 40 seed-1 test clips (models_data/pitch-ensemble.md)
    # restoration strength 0.7 (seed-1 clips, LSD80 against full strength: separate 0.776 vs
    # 0.823, superres 1.085 vs 1.112, synth 1.171 vs 1.194; synth's log-mel L1 8.14 vs 8.09)
    # synth defaults to restore here (20 seed-0 test clips, restore vs gla, the fourth-round
    # model: log-mel L1 7.75 vs 8.74 dB, LSD80 1.049 vs 1.157, melody RPA 0.910 vs 0.916; the
    # previous model: 7.92 vs 8.95, 1.146 vs 1.291, 0.888 vs 0.874). The real-time profiles keep
    # gla (default: level, see there; low-latency: 48 ms more; live: gla's log-mel L1 is better)
    "quality": Profile(3, 6, "HQ", None, None, 40.0, restore_strength=0.7, restore_strengths=(("superres", 0.2),),
                       models=(("separate", "separate-wide"), ("pitch", "pitch-ensemble")),
                       recons=(("synth", "restore"),)),
    # heard latency of a pedal (streamproc.lowdelay): at the host rate, 4 ms hops, an
    # asymmetric window pair, the model on its trained 16 ms spacing with no lookahead, run
    # every 2 hops on a worker thread whose prediction applies one hop later; engine 8 ms at
    # any rate (pitch: + half a window, the instant its model describes), live pre-buffer
    # 8 ms beyond one block. Runs the mask (separate, resynth) and sine (pitch) reconstructions,
    # and gla, hybrid and restore with PGHI phases (restore: its own zero-lookahead net).
    # restore-live at strength 0.4 (10 seed-1 test clips, LSD80 against full strength and gla:
    # separate 0.945 vs 1.007 and 0.951, superres 1.358 vs 1.361 and 1.380; synth 1.336 vs 1.374,
    # level with gla's 1.336, whose log-mel L1 stays better: 9.16 vs 9.30). synth at 0.2 since
    # synth-live runs here (ninth round; 12 seed-1 clips, LSD80 / log-mel L1 against gla's 1.210 /
    # 8.44 dB: 1.200 / 8.46 at 0.2, 1.210 / 8.53 at 0.4)
    "live": Profile(0, 0, "HQ", None, None, 8.0, restore_strength=0.4, restore_strengths=(("synth", 0.2),),
                    low_delay=LowDelay(4.0, 2, 1, grain_delays=(("gla", 6), ("restore", 6), ("hybrid", 3))),
                    # separate-live's image is its own asymmetric window's, which mask applies as
                    # it is; gla and restore resynthesise Hann-window magnitudes, so they run the
                    # Hann-trained separate (12 test clips, LSD80: models_data/separate-live.md)
                    models=(("separate", "separate-live"), ("separate/gla", "separate"), ("separate/restore", "separate"),
                            ("pitch", "pitch-live"), ("restore", "restore-live"), ("synth", "synth-live")),
                    # superres here did better as it is at 0 and -6 dBFS peak (LSD80 1.113 / 1.134 against
                    # 1.162 / 1.163 followed; followed better from -20 down: 1.166 against 1.223 ... 2.834):
                    # python -m bench.level --host stream --profile live
                    level_tasks=("pitch",)),
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
    follow_level: bool = False           # streaming hosts' level="auto": the models' images follow the input's level


def resolve(task: str, recon: str | None, profile: str = "default", guide_weight: float | None = None,
            cfg: SpectralConfig = DEFAULT, follow_level: bool = False) -> TaskSpec:
    """Checks a request against the registry and the profiles: a UserError names what is wrong."""
    if profile not in PROFILES:
        raise UserError(f"unknown profile {profile!r} (choose from {', '.join(PROFILES)})")
    if task not in registry.task_names():
        raise UserError(f"unknown task {task!r} (choose from {', '.join(registry.task_names())})")
    recons = registry.task(task).recons
    recon = recon or PROFILES[profile].default_recon(task) or recons[0]
    if recon not in recons:
        raise UserError(f"--recon {recon} is not available for task {task} (choose from {', '.join(recons)})")
    try:
        registry.recon(recon)
    except KeyError:
        raise UserError(f"task {task} names reconstruction {recon!r}, which nothing registered") from None
    if PROFILES[profile].low_delay is not None and recon not in registry.lowdelay_recons():
        raise UserError(f"profile {profile} runs --recon {', '.join(sorted(registry.lowdelay_recons()))} so far, "
                        f"not {recon} (task {task}): choose one of those or another --profile")
    if guide_weight is None:
        guide_weight = GUIDE_WEIGHT
    elif recon != "wavenet-guided":
        raise UserError("--guide-weight applies to --recon wavenet-guided only")
    elif not 0.0 <= guide_weight <= 1.0:
        raise UserError(f"--guide-weight must be within [0, 1], got {guide_weight}")
    # no model: nothing to follow for; the vocoder reads the images and would speak at their gain
    follow_level = follow_level and registry.task(task).model_output is not None and not recon.startswith("wavenet")
    return TaskSpec(task, recon, cfg, PROFILES[profile], profile, float(guide_weight), follow_level)


def shipped_model(task: str, profile: Profile | None = None, recon: str | None = None) -> Path | None:
    """The trained model that ships for a task (``models_data/<task>.onnx``), if any; a
    profile's own model for the task (``Profile.models``) where one ships, the one it names
    for the task under ``recon`` ("separate/gla"; for the restoration net, the task it runs
    behind: "restore/superres") before the one for the task as a whole."""
    if task not in (*registry.model_tasks(), RESTORE_MODEL):
        return None
    own = dict(profile.models) if profile else {}
    keys = ([f"{task}/{recon}"] if recon else []) + [task]
    stems = [own[k] for k in keys if k in own] + [task]
    paths = [MODELS_DIR / f"{stem}.onnx" for stem in stems]
    return next((p for p in paths if p.is_file()), None)


def task_model(task: str, model: FrameModel | str | Path | None = None,
               cfg: SpectralConfig = DEFAULT, providers: Sequence[str] | None = None,
               threads: int | None = None, profile: Profile | None = None,
               recon: str | None = None) -> FrameModel | None:
    """The model a task runs: ``model`` itself if it is one, else the ONNX file it names, else
    the shipped one (``profile``'s own where it ships, for ``recon`` where the profile names one
    for it); None where the task ships none. Files
    are checked against ``cfg`` and run on onnxruntime's ``providers`` (default: CPU) with
    ``threads`` intra-op threads."""
    if model is not None and not isinstance(model, (str, Path)):
        return model
    path = model or shipped_model(task, profile, recon)
    if path is None:
        return None
    from .onnx_model import load_model  # optional runtime piece, imported on demand

    return load_model(path, task=task, sample_rate=cfg.sample_rate, cfg=cfg, providers=providers, threads=threads)


def load_restore_model(cfg: SpectralConfig, providers: Sequence[str] | None = None,
                       threads: int | None = None, profile: Profile | None = None,
                       task: str | None = None) -> FrameModel:
    """The shipped restoration model for ``--recon restore`` behind ``task``: the one ``profile``
    names for that task (``Profile.models`` key "restore/<task>") where it ships, else the
    profile's own, else ``restore.onnx``: room for a net trained on one task model's outputs
    (none ships: the one tried for superres measured worse than the shared net)."""
    model = task_model(RESTORE_MODEL, None, cfg, providers, threads, profile, task)
    if model is None:
        raise UserError("no restoration model ships with this version; use --recon gla")
    return model


def shipped_vocoder() -> Path | None:
    """The GAN-WN vocoder that ships (``models_data/vocoder.npz``), if any."""
    path = MODELS_DIR / VOCODER_FILE
    return path if path.is_file() else None


@lru_cache(maxsize=1)
def load_shipped_vocoder() -> "Vocoder":
    """The GAN-WN vocoder, read once per process (its weights are shared, generators are not)."""
    from .wavenet import VocoderError, load_vocoder  # Numba kernels, compiled on first use

    path = shipped_vocoder()
    if path is None:
        raise UserError("no WaveNet vocoder ships with this version; use another --recon")
    try:
        return load_vocoder(path)
    except VocoderError as e:
        raise UserError(str(e)) from None
