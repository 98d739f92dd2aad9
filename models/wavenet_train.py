"""Train the GAN-WN vocoder (teacher forcing, mu-law cross-entropy).

    python -m models.wavenet_train --data data/vocoder --steps 20000 --out runs/wavenet
                                   [--net '{"n_layers": 20}'] [--batch 4] [--segment 4000]
                                   [--lr 1e-3] [--lr-half-life 0] [--resume] [--seed 0]
                                   [--device auto] [--max-minutes 0]
    python -m models.wavenet_data --minutes 30 --out data/vocoder     # the clips it reads

Each step takes ``batch`` segments of receptive-field + ``segment`` samples with their mel
frames; the network hears the true (mu-law quantised) previous sample and is scored only on
the last ``segment`` samples, whose whole receptive field lies inside the segment (the
first ones only warm the layers up, as the runtime's queues are warm in a stream).
Batches are drawn from RNGs seeded by (seed, step), so a resumed run continues exactly.
Writes RUNDIR/ckpt_last.pt (state dicts + network config JSON + summary JSON; read back with
``weights_only=True``), RUNDIR/metrics.jsonl and RUNDIR/config.json, like models.train.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .train import TrainError, save_checkpoint
from .wavenet import WaveNet, WaveNetConfig, mulaw_encode, mulaw_level, n_params
from .wavenet_data import AudioClips

CKPT_FORMAT = "streamproc-wavenet-ckpt-1"


def load_checkpoint(path: Path) -> dict:
    """weights_only: only tensors and plain containers are accepted from disk."""
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise TrainError(f"no checkpoint at {path}") from None
    except Exception as e:  # noqa: BLE001
        raise TrainError(f"{path} is not a readable checkpoint ({type(e).__name__})") from None
    if not isinstance(ck, dict) or ck.get("format") != CKPT_FORMAT:
        raise TrainError(f"{path} is not a WaveNet vocoder checkpoint")
    return ck


def make_batch(data: AudioClips, cfg: WaveNetConfig, rng: np.random.Generator, batch: int, segment: int):
    """(x_in (B, T), mel (B, F, n_mels), frame_idx (T,), target classes (B, segment))."""
    T = cfg.receptive_field - 1 + segment
    audio, mel, _ = data.batch(rng, batch, T, cfg.hop, cfg.cond_offset)
    classes = mulaw_encode(audio, cfg.mu)                       # (B, T+1)
    x_in = mulaw_level(classes[:, :-1], cfg.mu).astype(np.float32)
    target = classes[:, -segment:]
    frame_idx = torch.arange(T) // cfg.hop                      # segments start on frame boundaries
    return torch.from_numpy(x_in), torch.from_numpy(mel), frame_idx, torch.from_numpy(target)


def pick_device(name: str) -> str:
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainError("--device cuda: no CUDA device here")
    return name


def train(args: argparse.Namespace) -> dict:
    out = Path(args.out)
    ckpt_path = out / "ckpt_last.pt"
    try:
        data = AudioClips(args.data)
    except (ValueError, OSError) as e:
        raise TrainError(str(e)) from None
    start, wall_before, ck = 0, 0.0, None
    if args.resume and ckpt_path.exists():
        ck = load_checkpoint(ckpt_path)
        cfg = WaveNetConfig.from_json(ck["net"])
        start = int(ck["step"])
        wall_before = float(json.loads(ck["summary"])["wall_seconds"])
    else:
        if ckpt_path.exists():
            raise TrainError(f"{out} already holds a run; pass --resume or choose another --out")
        try:
            cfg = WaveNetConfig(**(json.loads(args.net) if args.net else {}))
        except (json.JSONDecodeError, TypeError, ValueError) as e:
            raise TrainError(f"bad --net: {e}") from None
    spec = data.manifest["spectral"]
    for k in ("sample_rate", "hop", "n_fft", "n_mels"):
        if spec[k] != getattr(cfg, k):
            raise TrainError(f"data {k}={spec[k]} does not match the network's {getattr(cfg, k)}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(json.loads(cfg.to_json()), indent=1))
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(pick_device(args.device))
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    torch.manual_seed(args.seed)
    model = WaveNet(cfg).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    if ck is not None:
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["opt"])

    def summary(step: int, wall: float, loss: float | None) -> dict:
        m = data.manifest
        return {"steps": step, "batch": args.batch, "segment": args.segment, "lr": args.lr,
                "lr_half_life": args.lr_half_life, "seed": args.seed, "device": device.type,
                "data_minutes": m["minutes"], "data_examples": m["n_examples"], "data_seed": m["seed"],
                "n_works": len(m["works"]), "soundfonts": m["soundfonts"], "wall_seconds": round(wall, 2),
                "params": n_params(model), "receptive_field": cfg.receptive_field,
                "last_loss": None if loss is None else round(loss, 5)}

    def checkpoint(step: int, wall: float, loss: float | None) -> None:
        save_checkpoint(ckpt_path, format=CKPT_FORMAT, net=cfg.to_json(), step=step, model=model.state_dict(),
                        opt=opt.state_dict(), summary=json.dumps(summary(step, wall, loss)))

    log = open(out / "metrics.jsonl", "a")
    t0 = t_last = time.time()
    losses: list[torch.Tensor] = []
    last = None
    step = start
    model.train()
    for step in range(start + 1, args.steps + 1):
        rng = np.random.default_rng([args.seed, step])
        x_in, mel, fidx, target = (t.to(device, non_blocking=True)
                                   for t in make_batch(data, cfg, rng, args.batch, args.segment))
        for group in opt.param_groups:  # a function of the step alone, so a resumed run continues exactly
            group["lr"] = args.lr * (0.5 ** (step / args.lr_half_life) if args.lr_half_life else 1.0)
        logits = model(x_in, mel, fidx)[:, :, -args.segment:]
        loss = F.cross_entropy(logits, target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.detach())  # no GPU sync per step
        if step % args.log_every == 0 or step == args.steps:
            now = time.time()
            last = float(torch.stack(losses).mean())
            rate = len(losses) * args.batch * args.segment / max(now - t_last, 1e-9)
            rec = {"step": step, "loss_ce": round(last, 5), "samples_per_s": round(rate, 1),
                   "wall_seconds": round(wall_before + now - t0, 2)}
            log.write(json.dumps(rec) + "\n")
            log.flush()
            if not args.quiet:
                print(json.dumps(rec), flush=True)
            losses, t_last = [], now
        if step % args.ckpt_every == 0 and step != args.steps:
            checkpoint(step, wall_before + time.time() - t0, last)
        if args.max_minutes and time.time() - t0 > 60 * args.max_minutes:
            break  # a lent machine's time is up: checkpoint and stop cleanly; --resume goes on
    wall = wall_before + time.time() - t0
    final = max(step, start)
    checkpoint(final, wall, last)
    log.close()
    return summary(final, wall, last)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m models.wavenet_train", description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="folder written by python -m models.wavenet_data")
    ap.add_argument("--steps", required=True, type=int, help="total steps (a resumed run stops here too)")
    ap.add_argument("--out", required=True, help="run folder: checkpoint, metrics, config")
    ap.add_argument("--resume", action="store_true")
    ap.add_argument("--net", help='JSON overrides of WaveNetConfig, e.g. \'{"n_layers": 20, "residual": 32}\'')
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--segment", type=int, default=4000, help="scored samples per segment")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--lr-half-life", type=float, default=0.0, help="steps per halving of the lr (0 = constant)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    ap.add_argument("--max-minutes", type=float, default=0.0, help="stop (with a checkpoint) after this wall time")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    ap.add_argument("--ckpt-every", type=int, default=200)
    ap.add_argument("--log-every", type=int, default=20)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args(argv)
    if min(a.steps, a.batch, a.segment, a.ckpt_every, a.log_every) < 1:
        ap.error("--steps, --batch, --segment, --ckpt-every and --log-every must be positive")
    return a


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        s = train(args)
    except TrainError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"trained vocoder to step {s['steps']} in {s['wall_seconds']} s (loss {s['last_loss']}) "
          f"-> {args.out}/ckpt_last.pt")
    return 0


if __name__ == "__main__":
    sys.exit(main())
