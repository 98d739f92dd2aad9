"""Train a spectrogram-translation model (pix2pix cGAN, or the L1-only CNN baseline).

    python -m models.train --task separate --steps 20000 --data data/separate --out runs/sep
                           [--preset small] [--net '{"ngf": 24}'] [--loss gan|l1] [--output image|mask] [--batch 16]
                           [--resume] [--seed 0] [--init RUN/ckpt_last.pt] [--focus-last K [--focus-rest 0.1]]
                           [--target-shift S]
    torchrun --nproc_per_node 2 -m models.train ...      # DistributedDataParallel

Loss: L1 * 100 + adversarial (BCE on PatchGAN logits), Adam 2e-4, beta1 0.5 (pix2pix).
Every step draws its batch and dropout from RNGs seeded by (seed, rank, step), so a run
resumed from its last checkpoint continues exactly as if it had never stopped.
Fine-tuning: ``--init CKPT`` starts from another run's generator and discriminator weights (fresh
Adam states, step 0; the network config comes from that checkpoint). ``--init`` of an L1-only
run with ``--loss gan`` turns it into a cGAN: its generator, and a fresh discriminator. ``--focus-last K`` weights the
loss towards the window's right edge: the last K columns weigh 1, the others ``--focus-rest``
(L1 per pixel; the PatchGAN's loss on its last patch columns, the rest weighted alike), for a model
run without lookahead, whose rightmost column is the prediction for "now".
``--teacher FILE.onnx`` distils: the target becomes ``(1 - share) * truth + share * teacher``,
the teacher an exported model run on the same windows (``--teacher-share``), optionally seeing
``--teacher-lead K`` frames more future than the student (``models.teacher``).
``--target-shift S`` trains column j of the window on the label of frame j + S (pitch: S = 2 is
the pitch at the frame's end instead of its centre, for a zero-lookahead model); the export
carries S into the model's metadata (``target_shift_frames``).
Writes RUNDIR/ckpt_last.pt (state dicts + network config JSON + training summary JSON),
RUNDIR/metrics.jsonl (one JSON object per logged step) and RUNDIR/config.json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import cast

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from streamproc.features import DEFAULT_KIND

from .data import PairedFrames, output_kind, pitch_layout, task_rows, TASKS
from .networks import (OUTPUTS, PRESETS, NetConfig, build_discriminator, build_generator, image_units_per_decade,
                       init_weights, n_params)
from .teacher import Teacher, TeacherError

CKPT_FORMAT = "streamproc-ckpt-1"


class TrainError(Exception):
    """A user mistake (arguments, data, run folder): one line, exit 2."""


def make_config(task: str, preset: str, overrides: dict, loss: str, output: str = "image") -> NetConfig:
    if preset not in PRESETS:
        raise TrainError(f"unknown preset {preset!r} (choose from {', '.join(PRESETS)})")
    rows_in, rows_out = task_rows(task)
    d = {"task": task, "kind": "restore" if task == "restore" else "unet", "loss": loss, "output": output,
         "rows_in": rows_in, "rows_out": rows_out, **PRESETS[preset]}
    if task == "pitch":
        d["extra"] = pitch_layout()
    d.update(overrides)
    try:
        return NetConfig.from_dict(d)
    except (TypeError, ValueError) as e:
        raise TrainError(f"bad network config: {e}") from None


def save_checkpoint(path: Path, **state) -> None:
    """Atomic: a crash mid-write never leaves a truncated ckpt_last.pt behind."""
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


FRAMING_KEYS = ("context_frames", "new_frames", "lookahead_frames")


def init_config(ck: dict, task: str, overrides: dict, loss: str | None, output: str | None) -> NetConfig:
    """The network of an --init checkpoint; --net may re-split its window (the framing keys, same
    width: the weights do not depend on it), --loss and --output must agree with it."""
    base = NetConfig.from_json(ck["net"])
    if base.task != task:
        raise TrainError(f"--init checkpoint trains {base.task!r}, not {task!r}")
    other = sorted(set(overrides) - set(FRAMING_KEYS))
    if other:
        raise TrainError(f"--init takes the network from the checkpoint; --net may only set "
                         f"{', '.join(FRAMING_KEYS)} (not {', '.join(other)})")
    for name, value in (("loss", loss), ("output", output)):
        if name == "loss" and (base.loss, value) == ("l1", "gan"):
            continue   # an L1-trained generator (the CNN) becomes a cGAN's starting point
        if value is not None and value != getattr(base, name):
            raise TrainError(f"--{name} {value} does not match the --init checkpoint's {getattr(base, name)!r}")
    d = {**json.loads(base.to_json()), **overrides}
    if loss is not None:
        d["loss"] = loss
    try:
        cfg = NetConfig.from_dict(d)
    except (TypeError, ValueError) as e:
        raise TrainError(f"bad network config: {e}") from None
    if cfg.width != base.width:
        raise TrainError(f"--net framing must keep the checkpoint's {base.width}-frame window (got {cfg.width})")
    return cfg


def with_input_kind(cfg: NetConfig, manifest: dict, inherited: bool) -> NetConfig:
    """The network reads the data's input image (``input_kind`` in the manifest; absent: mel),
    recorded in ``cfg.extra`` for the export. A resumed or --init network keeps its own, and
    must agree with the data."""
    kind = manifest.get("input_kind", DEFAULT_KIND)
    had = cfg.extra.get("input_kind", DEFAULT_KIND)
    if inherited and had != kind:
        raise TrainError(f"the network reads {had} images, the data holds {kind} images")
    if kind == DEFAULT_KIND:
        return cfg
    return NetConfig.from_dict({**json.loads(cfg.to_json()), "extra": {**cfg.extra, "input_kind": kind}})


def column_weights(width: int, last: int, rest: float) -> torch.Tensor:
    """(width,) loss weights: 1 on the last ``last`` columns, ``rest`` on the others."""
    w = torch.full((width,), float(rest))
    w[width - last:] = 1.0
    return w


def change_weights(y: torch.Tensor, weight: float, reach: int) -> torch.Tensor:
    """(batch, 1, 1, width) loss weights for pitch maps: ``weight`` on the columns within
    ``reach`` frames of a change in the target (voicing, or a move of 2 rows = a semitone or
    more), 1 elsewhere. Why: nearly all of the tracker's errors lie at note changes, where a
    window straddles two notes, and those columns are a few percent of the loss."""
    voiced = y.amax(dim=2) > 0                                   # (B, 1, W)
    row = y.argmax(dim=2)
    moved = (row[..., 1:] - row[..., :-1]).abs() >= 2
    change = (voiced[..., 1:] != voiced[..., :-1]) | (moved & voiced[..., 1:] & voiced[..., :-1])
    edge = torch.zeros_like(voiced)
    edge[..., 1:] |= change
    edge[..., :-1] |= change
    near = torch.nn.functional.max_pool1d(edge.float(), 2 * reach + 1, stride=1, padding=reach)
    return (1.0 + (weight - 1.0) * near).unsqueeze(2)


def amplitude_l1(fake: torch.Tensor, y: torch.Tensor, col_w: torch.Tensor | None = None) -> torch.Tensor:
    """L1 between the linear amplitudes two feature images stand for, each example's divided by
    its target's mean amplitude: loud bins count for more, as they do in SI-SDR, and quiet and
    loud examples alike. ``col_w`` (width,) weighs the window's columns (``--focus-last``)."""
    decades = 1.0 / image_units_per_decade()
    amp_f = torch.pow(10.0, decades * (fake - 1.0))   # 1 at the image's ceiling
    amp_y = torch.pow(10.0, decades * (y - 1.0))
    scale = amp_y.mean(dim=(1, 2, 3), keepdim=True).clamp_min(1e-8)
    err = (amp_f - amp_y).abs() / scale
    if col_w is None:
        return err.mean()
    w = col_w.expand_as(err)
    return (w * err).sum() / w.sum()


def onnx_init(path: Path, data, batch: int) -> dict:
    """An --init checkpoint from an exported model (``models.from_onnx``); its folded BatchNorms
    are calibrated on 8 batches of this run's own training windows."""
    from models.from_onnx import OnnxInitError, init_checkpoint

    def batches(cfg: NetConfig):
        for i in range(8):
            xb, _ = data.batch(np.random.default_rng([1234, i]), batch, cfg.width, 0)
            yield torch.from_numpy(xb)
    if not path.is_file():
        raise TrainError(f"no model file at {path}")
    try:
        return init_checkpoint(path, batches)
    except OnnxInitError as e:
        raise TrainError(str(e)) from None


def load_checkpoint(path: Path) -> dict:
    """weights_only: only tensors and plain containers are accepted from disk."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise TrainError(f"no checkpoint at {path}") from None
    except Exception as e:  # noqa: BLE001  (torch raises many types on foreign files)
        raise TrainError(f"{path} is not a readable checkpoint ({type(e).__name__})") from None
    if not isinstance(ck, dict) or ck.get("format") != CKPT_FORMAT:
        raise TrainError(f"{path} is not a streamproc training checkpoint")
    return ck


def resumed_shift(summary: dict, asked: int | None) -> int:
    """The target shift of a resumed run: its own (runs from before the option: 0); asking for
    another one is refused, since the run's targets so far were drawn with its own."""
    own = int(summary.get("target_shift", 0))
    if asked is not None and asked != own:
        raise TrainError(f"the run was trained with --target-shift {own}, not {asked}")
    return own


def resumed_teacher(summary: dict, asked: dict | None) -> None:
    """A resumed run keeps the teacher it was trained with (none for runs from before the option)."""
    own = summary.get("teacher")
    if own != asked:
        raise TrainError(f"the run was trained with teacher {own}, not {asked}")


def build_teacher(args: argparse.Namespace, cfg: NetConfig) -> Teacher | None:
    if not args.teacher:
        return None
    try:
        return Teacher(Path(args.teacher), cfg.task, cfg.rows_in, cfg.rows_out, cfg.width,
                       args.teacher_share, args.teacher_lead)
    except TeacherError as e:
        raise TrainError(str(e)) from None


def _setup_distributed(threads: int | None = None) -> tuple[int, int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        device = torch.device("cuda", local)
        torch.cuda.set_device(device)
    else:
        device = torch.device("cpu")
        torch.set_num_threads(threads or max(1, (os.cpu_count() or 1) // world))
    if world > 1:
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return world, rank, local, device


def train(args: argparse.Namespace) -> dict:
    world, rank, _, device = _setup_distributed(getattr(args, "threads", None))
    try:
        return _train(args, world, rank, device)
    finally:
        if world > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _train(args, world: int, rank: int, device: torch.device) -> dict:
    from tqdm import tqdm

    out = Path(args.out)
    ckpt_path = out / "ckpt_last.pt"
    try:
        data = PairedFrames(args.data)
    except (ValueError, OSError) as e:
        raise TrainError(str(e)) from None
    if data.task != args.task:
        raise TrainError(f"{args.data} holds {data.task!r} data, not {args.task!r}")
    start, wall_before, ck, init = 0, 0.0, None, None
    if args.resume and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path)
        cfg = NetConfig.from_json(ck["net"])
        start = int(ck["step"])
        prev = json.loads(ck["summary"])
        wall_before = float(prev["wall_seconds"])
        init = prev.get("init")
        args.target_shift = resumed_shift(prev, args.target_shift)
    else:
        if ckpt_path.exists() and not args.resume:
            raise TrainError(f"{out} already holds a run; pass --resume or choose another --out")
        try:
            overrides = json.loads(args.net) if args.net else {}
        except json.JSONDecodeError as e:
            raise TrainError(f"--net is not JSON: {e}") from None
        if not isinstance(overrides, dict):
            raise TrainError("--net must be a JSON object")
        if args.init:
            from_model = Path(args.init).suffix == ".onnx"   # an exported model, not a run's checkpoint
            init_ck = onnx_init(Path(args.init), data, args.batch) if from_model else load_checkpoint(Path(args.init))
            cfg = init_config(init_ck, args.task, overrides, args.loss, args.output)
            init_summary = json.loads(init_ck["summary"])
            # the run folder's name, not the path: the summary travels into shipped ONNX metadata
            init = {"run": Path(args.init).name if from_model else Path(args.init).resolve().parent.name,
                    "steps": int(init_ck["step"]),
                    "soundfonts": init_summary.get("soundfonts"), "data_minutes": init_summary.get("data_minutes"),
                    "loss": NetConfig.from_json(init_ck["net"]).loss}
        else:
            cfg = make_config(args.task, args.preset or "small", overrides, args.loss or "gan", args.output or "image")
    if args.target_shift is None:
        args.target_shift = 0
    if cfg.task != args.task:
        raise TrainError(f"the run in {out} trains {cfg.task!r}, not {args.task!r}")
    if (data.rows_in, data.rows_out) != (cfg.rows_in, cfg.rows_out):
        raise TrainError(f"data rows {data.rows_in}->{data.rows_out} do not fit the network "
                         f"({cfg.rows_in}->{cfg.rows_out})")
    cfg = with_input_kind(cfg, data.manifest, ck is not None or init is not None)
    if args.focus_last is not None and args.focus_last > cfg.width:
        raise TrainError(f"--focus-last {args.focus_last} exceeds the {cfg.width}-frame window")
    teacher = build_teacher(args, cfg)
    if ck is not None:
        resumed_teacher(json.loads(ck["summary"]), teacher.describe() if teacher else None)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        (out / "config.json").write_text(json.dumps(json.loads(cfg.to_json()), indent=1))

    torch.manual_seed(args.seed)
    G, D = build_generator(cfg), build_discriminator(cfg)
    G.apply(init_weights)
    D.apply(init_weights)
    G.to(device)
    D.to(device)
    optG = torch.optim.Adam(G.parameters(), lr=args.lr, betas=(0.5, 0.999))
    optD = torch.optim.Adam(D.parameters(), lr=args.lr, betas=(0.5, 0.999))
    if ck is None and init is not None:
        G.load_state_dict(init_ck["G"])   # fine-tuning: weights only, fresh optimisers from step 0
        if init["loss"] == "gan" and init_ck["D"] is not None:   # an ONNX file carries no D
            D.load_state_dict(init_ck["D"])   # an L1 run never trained its D: keep this fresh one
    if ck is not None:
        G.load_state_dict(ck["G"])
        D.load_state_dict(ck["D"])
        optG.load_state_dict(ck["optG"])
        optD.load_state_dict(ck["optD"])
    gan = cfg.loss == "gan"
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel as DDP

        ids = [device.index] if device.type == "cuda" else None
        G = DDP(G, device_ids=ids)
        D = DDP(D, device_ids=ids) if gan else D
    g_mod = cast(nn.Module, G.module) if world > 1 else G      # the networks themselves, inside DDP
    d_mod = cast(nn.Module, D.module) if (world > 1 and gan) else D
    bce = nn.BCEWithLogitsLoss(reduction="none")
    lam = args.lambda_l1
    focus = args.focus_last
    col_w = column_weights(cfg.width, focus, args.focus_rest).to(device) if focus else None
    patch_w = None   # the PatchGAN's column weights, sized on its first output

    def adv(logits: torch.Tensor, real: bool) -> torch.Tensor:
        nonlocal patch_w
        loss = bce(logits, torch.full_like(logits, 1.0 if real else 0.0))
        if col_w is None:
            return loss.mean()
        if patch_w is None or patch_w.numel() != logits.shape[-1]:
            n = logits.shape[-1]
            patch_w = column_weights(n, max(1, round(focus * n / cfg.width)), args.focus_rest).to(device)
        w = patch_w.expand_as(loss)
        return (w * loss).sum() / w.sum()

    def summary(step: int, wall: float) -> dict:
        m = data.manifest
        return {"steps": step, "task": cfg.task, "loss": cfg.loss, "batch": args.batch, "world_size": world,
                "device": device.type, "lr": args.lr, "lambda_l1": lam, "pos_weight": args.pos_weight, "seed": args.seed,
                "focus_last": focus, "focus_rest": args.focus_rest if focus else None, "init": init,
                "target_shift": args.target_shift, "amp_weight": args.amp_weight,
                "teacher": teacher.describe() if teacher else None,
                "change_weight": args.change_weight, "change_reach": args.change_reach if args.change_weight != 1.0 else None,
                "data_minutes": m["minutes"], "data_examples": m["n_examples"], "data_seed": m["seed"],
                "works": m["works"], "n_works": len(m["works"]), "soundfonts": m["soundfonts"],
                "wall_seconds": round(wall, 2), "generator_params": n_params(g_mod),
                "discriminator_params": n_params(d_mod) if gan else 0,
                **({"pitch_sigma": m["pitch_sigma"]} if m.get("pitch_sigma") else {})}

    def checkpoint(step: int, wall: float) -> None:
        if rank == 0:
            save_checkpoint(ckpt_path, format=CKPT_FORMAT, net=cfg.to_json(), step=step,
                            G=g_mod.state_dict(), D=d_mod.state_dict(), optG=optG.state_dict(),
                            optD=optD.state_dict(), summary=json.dumps(summary(step, wall)))

    log = open(out / "metrics.jsonl", "a") if rank == 0 else None
    bar = tqdm(total=args.steps, initial=min(start, args.steps), desc=f"train {cfg.task}", unit="step",
               disable=rank != 0 or args.quiet)
    t0 = time.time()
    t_last, n_last = t0, 0
    G.train()
    D.train()
    step = start
    for step in range(start + 1, args.steps + 1):
        rng = np.random.default_rng([args.seed, rank, step])
        torch.manual_seed(args.seed * 1_000_003 + rank * 7919 + step)
        if teacher is None:
            xb, yb = data.batch(rng, args.batch, cfg.width, args.target_shift)
        else:
            xw, yw = data.batch(rng, args.batch, cfg.width + teacher.lead, args.target_shift)
            xb = np.ascontiguousarray(xw[..., :cfg.width])
            yb = teacher.blend(xw, np.ascontiguousarray(yw[..., :cfg.width]))
        x = torch.from_numpy(xb).to(device, non_blocking=True)
        y = torch.from_numpy(yb).to(device, non_blocking=True)
        fake = G(x)
        stats: dict[str, float] = {}
        if gan:
            # discriminator: real and generated pairs in separate passes (as pix2pix does), so
            # BatchNorm never normalises a batch mixing the two: a joint batch lets D tell them
            # apart by batch statistics it does not see in the generator's step
            real_logits = D(x, y)
            fake_logits = D(x, fake.detach())
            loss_d = 0.5 * (adv(real_logits, True) + adv(fake_logits, False))
            optD.zero_grad(set_to_none=True)
            loss_d.backward()
            optD.step()
            # generator: fool D; D's weights are frozen for this pass (gradients reach G only)
            for p in d_mod.parameters():
                p.requires_grad_(False)
            pred = d_mod(x, fake)
            loss_adv = adv(pred, True)
            for p in d_mod.parameters():
                p.requires_grad_(True)
            stats.update(loss_d=loss_d.item(), loss_g_adv=loss_adv.item())
        else:
            loss_adv = torch.zeros((), device=device)
        # class-balanced L1 for sparse maps (pitch: one row in 128 is on): plain L1's
        # per-pixel median is "off" wherever the pitch is not yet certain, and a model
        # trained with it collapses to an all-off map (measured: peak -0.98 after 950 steps)
        w = torch.where(y > 0, args.pos_weight, 1.0) if args.pos_weight != 1.0 else None
        if col_w is not None:
            w = col_w.expand_as(y) if w is None else w * col_w
        if args.change_weight != 1.0:
            cw = change_weights(y, args.change_weight, args.change_reach).expand_as(y)
            w = cw if w is None else w * cw
        loss_l1 = (fake - y).abs().mean() if w is None else (w * (fake - y).abs()).sum() / w.sum()
        loss_g = loss_adv + lam * loss_l1
        if args.amp_weight:
            loss_amp = amplitude_l1(fake, y, col_w)
            loss_g = loss_g + lam * args.amp_weight * loss_amp
            stats["loss_amp"] = loss_amp.item()
        optG.zero_grad(set_to_none=True)
        loss_g.backward()
        optG.step()
        stats["loss_l1"] = loss_l1.item()
        n_last += 1
        bar.update()
        if rank == 0 and (step % args.log_every == 0 or step == args.steps):
            now = time.time()
            rate = n_last * args.batch * world / max(now - t_last, 1e-9)
            rec = {"step": step, **{k: round(v, 5) for k, v in stats.items()},
                   "examples_per_s": round(rate, 2), "wall_seconds": round(wall_before + now - t0, 2)}
            assert log is not None  # opened on rank 0
            log.write(json.dumps(rec) + "\n")
            log.flush()
            bar.set_postfix(l1=f"{stats['loss_l1']:.4f}", ex_s=f"{rate:.1f}")
            t_last, n_last = now, 0
        if step % args.ckpt_every == 0 and step != args.steps:
            checkpoint(step, wall_before + time.time() - t0)
    bar.close()
    wall = wall_before + time.time() - t0
    final = max(step, start)
    checkpoint(final, wall)
    if log:
        log.close()
    if world > 1:
        dist.barrier()
    return summary(final, wall)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m models.train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", required=True, choices=TASKS)
    ap.add_argument("--steps", required=True, type=int, help="total steps (a resumed run stops here too)")
    ap.add_argument("--data", required=True, help="folder written by python -m models.data")
    ap.add_argument("--out", required=True, help="run folder: checkpoint, metrics, config")
    ap.add_argument("--resume", action="store_true", help="continue from OUT/ckpt_last.pt if present")
    ap.add_argument("--preset", default=None, help=f"network size: {', '.join(PRESETS)} (default small)")
    ap.add_argument("--net", help='JSON overrides of the network config, e.g. \'{"ngf": 24, "depth": 5}\'')
    ap.add_argument("--loss", choices=("gan", "l1"), default=None, help="l1 = the CNN baseline (default gan)")
    ap.add_argument("--output", choices=OUTPUTS, default=None,
                    help="generator output: image (tanh), mask (a bounded ratio mask on the input, "
                         "for separate: the loss is then on the masked mixture) or residual (the input "
                         "plus a correction, for superres: the given band passes through; default image)")
    ap.add_argument("--init", help="fine-tune: start from this checkpoint's generator and discriminator "
                                   "weights (its network config; fresh optimisers, step 0), or from an "
                                   "exported FILE.onnx's generator (a fresh discriminator)")
    ap.add_argument("--focus-last", type=int, default=None, metavar="K",
                    help="weight the loss towards the last K window columns (for zero-lookahead use)")
    ap.add_argument("--focus-rest", type=float, default=0.0,
                    help="with --focus-last: the weight of the other columns (default 0: last K only)")
    ap.add_argument("--change-weight", type=float, default=1.0,
                    help="pitch: weight of the L1 on columns near a change in the target map (a note or "
                         "voicing change; default 1: off)")
    ap.add_argument("--change-reach", type=int, default=2, metavar="FRAMES",
                    help="with --change-weight: how many frames either side of a change it covers (default 2)")
    ap.add_argument("--batch", type=int, default=16, help="windows per step and process")
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--lambda-l1", type=float, default=100.0)
    ap.add_argument("--amp-weight", type=float, default=0.0,
                    help="add an L1 term on linear amplitudes (each example's divided by its target's "
                         "mean), this much of the image L1's weight: it weighs bins by loudness as "
                         "SI-SDR does, where the image L1 weighs every dB alike (default 0: off)")
    ap.add_argument("--pos-weight", type=float, default=None,
                    help="weight of target pixels > 0 in the L1 term (default: 32 for pitch, 1 otherwise)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--target-shift", type=int, default=None, metavar="S",
                    help="target column j = label of frame j+S (default 0; pitch: 2 = the pitch at the "
                         "frame's end, for zero lookahead); a resumed run keeps its own")
    ap.add_argument("--teacher", metavar="FILE.onnx",
                    help="distil: blend this exported model's output on each window into the target")
    ap.add_argument("--teacher-share", type=float, default=0.5,
                    help="the teacher's share of the target, within (0, 1] (default 0.5)")
    ap.add_argument("--teacher-lead", type=int, default=0, metavar="K",
                    help="the teacher's window starts K frames later: it sees K frames more future (default 0)")
    ap.add_argument("--ckpt-every", type=int, default=500)
    ap.add_argument("--log-every", type=int, default=50)
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads per process (default: cores / processes); 1 on a shared machine")
    ap.add_argument("--quiet", action="store_true", help="no progress bar")
    a = ap.parse_args(argv)
    if a.pos_weight is None:
        a.pos_weight = 32.0 if a.task == "pitch" else 1.0
    if a.steps < 1 or a.batch < 1 or a.ckpt_every < 1 or a.log_every < 1:
        ap.error("--steps, --batch, --ckpt-every and --log-every must be positive")
    if a.amp_weight < 0:
        ap.error("--amp-weight must not be negative")
    if a.change_weight < 1.0 or a.change_reach < 0:
        ap.error("--change-weight must be at least 1 and --change-reach not negative")
    if a.change_weight != 1.0 and a.task != "pitch":
        ap.error("--change-weight applies to pitch maps only")
    if a.focus_last is not None and a.focus_last < 1:
        ap.error("--focus-last must be positive")
    if not 0.0 <= a.focus_rest <= 1.0:
        ap.error("--focus-rest must be within 0..1")
    if a.init and a.preset is not None:
        ap.error("--init takes the network from the checkpoint: drop --preset")
    if a.target_shift is not None and not 0 <= a.target_shift <= 16:
        ap.error("--target-shift must be 0..16 frames")
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        s = train(args)
    except TrainError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"trained {s['task']} to step {s['steps']} in {s['wall_seconds']} s -> {args.out}/ckpt_last.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
