"""Real-time benchmark: ``python -m bench.rtf [--quick] [--tasks T..] [--blocks N..] [--rates SR..]``.

For every task whose model ships (or that needs none) x recon x profile x host rate x block
size: real-time factor, per-block worker time (p50/p99/max against the block period) and the
declared latency, streaming with ``reset=False`` on the bundled clip that suits the task.
Beside them, on the same clips in the same run: librosa.griffinlim (32 iterations), librosa
pYIN and torchcrepe tiny/full on the CPU; these baselines are offline (whole clip in one
call), not streaming. Then the cold start per task, and the issue's targets with PASS/MISS.
Writes ``bench/out/rtf.json`` and ``bench/out/rtf.png`` (``rtf-quick.*`` with ``--quick``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from streamproc.config import SAMPLE_RATE
from streamproc.errors import UserError
from streamproc.benchmark import HEADER, cold_start, load_clip, measure, row_line, task_clip
from streamproc.tasks import PROFILES, RECONS, model_tasks, shipped_model

from .common import OUT, write_json

BLOCKS = (64, 256, 1024, 4096)
RATES = (SAMPLE_RATE, 44100, 48000)
QUICK = {"blocks": [256, 4096], "rates": [48000], "seconds": 3.0, "cold_repeats": 1}
FULL = {"blocks": list(BLOCKS), "rates": list(RATES), "seconds": 10.0, "cold_repeats": 3}
GAN_S_RTF, PITCH_RTF, COLD_S = 0.15, 0.03, 2.0
PITCH_MODEL_RTF = 0.01   # issue 10: the pitch model alone, as `default` runs it
LATENCY_MS = {"default": 200.0, "low-latency": 80.0}
P99_CELL = (256, 48000)  # (block, rate) at which p99 worker time must stay below the block period
# the live profile: heard latency (engine + pre-buffer + PortAudio's block) at 48 kHz, 64-sample
# blocks, per pipeline; there also RTF <= 0.3 and p99 block time under the period
LIVE_CELL = (64, 48000)
LIVE_RTF = 0.3


def live_heard_target_ms(task: str, recon: str) -> float:
    if recon in ("mask", "sine"):
        return 20.0
    if task == "superres" and recon == "hybrid":
        return 30.0
    return 40.0
SR = SAMPLE_RATE         # baselines run at the model rate


def available_tasks() -> list[str]:
    return [t for t in RECONS if t not in model_tasks() or shipped_model(t)]


def parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="*", default=None, help="default: every task whose model ships")
    ap.add_argument("--blocks", nargs="*", type=int, default=None, help=f"default {' '.join(map(str, BLOCKS))}")
    ap.add_argument("--rates", nargs="*", type=int, default=None, help=f"default {' '.join(map(str, RATES))}")
    ap.add_argument("--profiles", nargs="*", default=list(PROFILES))
    ap.add_argument("--seconds", type=float, default=None, help="clip length, looped (default 10)")
    ap.add_argument("--cold-repeats", type=int, default=None, help="launches per task (median; default 3)")
    ap.add_argument("--quick", action="store_true",
                    help=f"blocks {QUICK['blocks']}, rates {QUICK['rates']}, {QUICK['seconds']:g} s, 1 cold launch")
    ap.add_argument("--recons", nargs="*", default=None, help="only these reconstructions (default: all)")
    ap.add_argument("--update", action="store_true",
                    help="merge into the report already there: cells measured now replace theirs, the rest "
                         "(and baselines or cold starts not re-run) stay; targets are recomputed over the whole")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--no-cold-start", action="store_true")
    args = ap.parse_args(argv)
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    args.tasks = args.tasks or available_tasks()
    bad = [t for t in args.tasks if t not in RECONS] + [p for p in args.profiles if p not in PROFILES]
    if bad:
        ap.error(f"unknown task or profile: {', '.join(bad)}")
    return args


def _rtf(fn, warm, seconds: float) -> dict:
    warm()
    t = time.perf_counter()
    fn()
    return {"rtf": (time.perf_counter() - t) / seconds}


def baselines(x: np.ndarray, pitch: bool = True) -> dict[str, dict]:
    """Offline (whole-clip) RTF of the reference tools on ``x`` at 16 kHz, each warmed up first;
    ``pitch``: the pitch trackers too (pYIN, torchcrepe), not only Griffin-Lim."""
    import librosa

    dur, head = len(x) / SR, x[:SR // 2]
    mag, head_mag = (np.abs(librosa.stft(a, n_fft=1024, hop_length=256)) for a in (x, head))
    out = {"librosa.griffinlim (32 it)": _rtf(
        lambda: librosa.griffinlim(mag, n_iter=32, hop_length=256, n_fft=1024, length=len(x), random_state=0),
        lambda: librosa.griffinlim(head_mag, n_iter=2, hop_length=256, n_fft=1024, random_state=0), dur)}
    if not pitch:
        return out
    out["librosa.pyin"] = _rtf(lambda: librosa.pyin(x, fmin=65, fmax=2093, sr=SR, hop_length=160),
                               lambda: librosa.pyin(head, fmin=65, fmax=2093, sr=SR, hop_length=160), dur)
    import sys
    import types

    sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))  # torchcrepe imports it, never uses it here
    import torch
    import torchcrepe

    for size in ("tiny", "full"):
        def crepe(a, size=size):
            with torch.inference_mode():
                return torchcrepe.predict(torch.tensor(a[None], dtype=torch.float32), SR, hop_length=160,
                                          fmin=65, fmax=2093, model=size, device="cpu")
        out[f"torchcrepe {size}"] = _rtf(lambda: crepe(x), lambda: crepe(head), dur)
    for k in ("torchcrepe tiny", "torchcrepe full"):
        out[k]["torch_threads"] = torch.get_num_threads()
    return out


def run_grid(args: argparse.Namespace) -> tuple[list[dict], list[dict]]:
    rows, errors = [], []
    print(HEADER)
    for task in args.tasks:
        clip = task_clip(task)
        for rate in args.rates:
            x = load_clip(clip, rate, args.seconds)
            for recon in RECONS[task]:
                if args.recons and recon not in args.recons:
                    continue
                for profile in args.profiles:
                    for block in args.blocks:
                        try:
                            r = measure(task, recon, rate, block, x, profile=profile)
                        except Exception as exc:  # noqa: BLE001  (a stage under construction must not end the run)
                            kind = "skipped" if isinstance(exc, UserError) else "failed"
                            errors.append({"task": task, "recon": recon, "profile": profile, "rate": rate,
                                           kind: str(exc) if kind == "skipped" else repr(exc)})
                            print(f"{task:8s} {recon:7s} {profile:11s} {rate:6d} {kind}: {errors[-1][kind]}")
                            break
                        rows.append({**r, "clip": clip.name})
                        print(row_line(r), flush=True)
    return rows, errors


def _check(target: str, subject: str, value: float, limit: float, where: str = "", strict: bool = False) -> dict:
    ok = value < limit if strict else value <= limit
    return {"target": target, "subject": subject, "value": value, "limit": limit, "pass": bool(ok), "where": where}


def _worst(rows: list[dict], key: str) -> dict:
    return max(rows, key=lambda r: r[key])


def targets(rows: list[dict], cold: list[dict], errors: list[dict] = ()) -> list[dict]:
    """The issue's targets, one check per task (and recon/profile where the target is per pipeline)."""
    checks = []
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["task"], r["recon"]), []).append(r)
    for (task, recon), rs in groups.items():
        # the GAN-S and pitch RTF targets predate the live profile, which has its own (LIVE_RTF):
        # a run of the live profile alone checks only that one
        standard = [r for r in rs if r["profile"] != "live"]
        if standard:
            w = _worst(standard, "rtf")
            where = f"{w['profile']}, {w['rate']} Hz, block {w['block']}"
            if recon == "restore":
                checks.append(_check("GAN-S RTF <= 0.15", f"{task}/{recon}", w["rtf"], GAN_S_RTF, where))
            if task == "pitch":
                checks.append(_check("pitch RTF <= 0.03", f"{task}/{recon}", w["rtf"], PITCH_RTF, where))
            timed = [r for r in standard if r["profile"] == "default" and r.get("model_runs")]
            if task == "pitch" and timed:
                m = _worst(timed, "model_rtf")
                checks.append(_check(f"pitch model RTF <= {PITCH_MODEL_RTF:g} (default)", f"{task}/{recon}",
                                     m["model_rtf"], PITCH_MODEL_RTF, f"{m['rate']} Hz, block {m['block']}"))
        for profile, limit in LATENCY_MS.items():
            sel = [r for r in rs if r["profile"] == profile]
            if sel:
                w = _worst(sel, "latency_ms")
                checks.append(_check(f"{profile} latency <= {limit:g} ms", f"{task}/{recon}", w["latency_ms"], limit,
                                     f"{w['rate']} Hz"))
        for r in rs:
            if r["profile"] == "live" and (r["block"], r["rate"]) == LIVE_CELL:
                subject, where = f"{task}/{recon}/live", f"{r['rate']} Hz, block {r['block']}"
                limit = live_heard_target_ms(task, recon)
                checks.append(_check(f"live heard latency <= {limit:g} ms", subject, r["heard_ms"], limit, where))
                checks.append(_check(f"live RTF <= {LIVE_RTF:g}", subject, r["rtf"], LIVE_RTF, where))
                checks.append(_check("live p99 block time < period at 64 / 48 kHz", subject, r["block_ms_p99"],
                                     r["block_period_ms"], "ms", strict=True))
            if (r["block"], r["rate"]) == P99_CELL:
                checks.append(_check("p99 block time < period at 256 / 48 kHz", f"{task}/{recon}/{r['profile']}",
                                     r["block_ms_p99"], r["block_period_ms"], "ms", strict=True))
    for e in errors:  # pipelines that could not run at all: their RTF targets are not met yet
        if (e["task"], e["recon"]) not in groups and (e["recon"] == "restore" or e["task"] == "pitch"):
            target = "GAN-S RTF <= 0.15" if e["recon"] == "restore" else "pitch RTF <= 0.03"
            checks.append({"target": target, "subject": f"{e['task']}/{e['recon']}", "value": None,
                           "limit": GAN_S_RTF if e["recon"] == "restore" else PITCH_RTF, "pass": None,
                           "where": e.get("skipped") or e.get("failed")})
    checks = list({(c["target"], c["subject"]): c for c in checks}.values())
    for c in cold:
        for key in ("first_block_s", "first_output_s"):
            checks.append(_check(f"cold start <= 2 s ({key[:-2].replace('_', ' ')})", c["task"], c[key], COLD_S,
                                 f"median of {len(c['runs'])}"))
    return checks


def model_shares(rows: list[dict]) -> list[str]:
    """One line per task and profile: the task model's own RTF (wall time inside its runs over
    the audio's duration), lowest and highest over the recons, rates and blocks measured."""
    groups: dict[tuple[str, str], list[float]] = {}
    for r in rows:
        if r.get("model_runs"):
            groups.setdefault((r["task"], r["profile"]), []).append(r["model_rtf"])
    return [f"  {task:8s} {profile:11s} {min(v):.4f}-{max(v):.4f}" for (task, profile), v in groups.items()]


def plot(rows: list[dict], base: list[dict], name: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rate = max(r["rate"] for r in rows)
    sel = [r for r in rows if r["rate"] == rate]
    pipes = list(dict.fromkeys((r["task"], r["recon"], r["profile"]) for r in sel))
    fig, ax = plt.subplots(2, 2, figsize=(14, 10))
    for task, recon, profile in pipes:
        rs = sorted((r for r in sel if (r["task"], r["recon"], r["profile"]) == (task, recon, profile)),
                    key=lambda r: r["block"])
        style = "-" if profile == "default" else "--"
        label = f"{task}/{recon}/{profile}"
        ax[0, 0].plot([r["block"] for r in rs], [r["rtf"] for r in rs], style, marker="o", label=label)
        ax[0, 1].plot([r["block"] for r in rs], [r["block_ms_p99"] / r["block_period_ms"] for r in rs], style,
                      marker="o", label=label)
    ax[0, 0].axhline(GAN_S_RTF, color="k", lw=0.8, ls=":", label="GAN-S target 0.15")
    ax[0, 0].axhline(PITCH_RTF, color="r", lw=0.8, ls=":", label="pitch target 0.03")
    ax[0, 0].set(xscale="log", yscale="log", xlabel="block (samples)", ylabel="real-time factor",
                 title=f"RTF, streaming, {rate} Hz")
    ax[0, 1].axhline(1.0, color="k", lw=0.8, ls=":")
    ax[0, 1].set(xscale="log", yscale="log", xlabel="block (samples)", ylabel="p99 block time / block period",
                 title=f"worker time per block, {rate} Hz (below 1 = in time)")
    blocks = sorted({r["block"] for r in sel})
    for a in ax[0]:
        a.set_xticks(blocks, [str(b) for b in blocks])
        a.minorticks_off()
    ax[0, 0].legend(fontsize=6, ncol=2, loc="lower left")
    lat = [max(r["latency_ms"] for r in sel if (r["task"], r["recon"], r["profile"]) == p) for p in pipes]
    colors = ["C0" if p[2] == "default" else "C1" for p in pipes]
    ax[1, 0].bar(range(len(pipes)), lat, color=colors)
    for profile, limit in LATENCY_MS.items():
        ax[1, 0].axhline(limit, color="C0" if profile == "default" else "C1", ls=":", label=f"{profile} target")
    ax[1, 0].set_xticks(range(len(pipes)), ["/".join(p) for p in pipes], rotation=60, ha="right", fontsize=7)
    ax[1, 0].set(ylabel="latency (ms)", title=f"declared latency, {rate} Hz")
    ax[1, 0].legend(fontsize=7)
    mid = [r for r in sel if r["profile"] == "default" and r["block"] == min(sel, key=lambda r: abs(r["block"] - 256))["block"]]
    labels = [f"{r['task']}/{r['recon']} (stream, block {r['block']})" for r in mid] + \
             [f"{b['method']} on {b['clip']} (offline)" for b in base]
    ax[1, 1].barh(range(len(labels)), [r["rtf"] for r in mid] + [b["rtf"] for b in base],
                  color=["C0"] * len(mid) + ["C2"] * len(base))
    ax[1, 1].set_yticks(range(len(labels)), labels, fontsize=7)
    ax[1, 1].set(xscale="log", xlabel="real-time factor", title="streamproc (default profile) vs baselines")
    fig.tight_layout()
    path = OUT / f"{name}.png"
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> dict:
    args = parse(argv)
    args.command = "python -m bench.rtf " + " ".join(argv if argv is not None else sys.argv[1:])
    import onnxruntime

    skipped = [t for t in RECONS if t not in available_tasks()]
    print(f"tasks {', '.join(args.tasks)}" + (f" (no shipped model: {', '.join(skipped)})" if skipped else ""))
    print(f"{args.seconds:g} s per clip (looped); RTF = wall processing time / duration, cpu rtf = process CPU "
          f"time / duration; model = wall time inside the task model's runs / duration; p50/p99/max = "
          f"worker time per block; period = block duration")
    rows, errors = run_grid(args)
    print("\ntask models alone (wall time inside their runs / duration), over the cells above:")
    for line in model_shares(rows):
        print(line)
    base = []
    if not args.no_baselines:
        print("\nbaselines, offline (whole clip in one call, not streaming), 16 kHz, CPU; "
              "pitch trackers on the pitch task's clip:")
        clips = list(dict.fromkeys(task_clip(t) for t in args.tasks))
        pitch_clip = task_clip("pitch") if "pitch" in args.tasks else clips[0]
        for clip in clips:
            for method, v in baselines(load_clip(clip, SR, args.seconds), clip == pitch_clip).items():
                base.append({"method": method, "clip": clip.name, "seconds": args.seconds, **v})
                print(f"  {method:28s} {clip.name:16s} rtf {v['rtf']:.4f}", flush=True)
    cold = []
    if not args.no_cold_start:
        print("\ncold start (fresh python to the 1st 256-sample block at 48 kHz returning | to the 1st block with output):")
        for task in args.tasks:
            c = cold_start(task, repeats=args.cold_repeats)
            cold.append(c)
            print(f"  {task:8s} {c['first_block_s']:.2f} s | {c['first_output_s']:.2f} s", flush=True)
    name = "rtf-quick" if args.quick else "rtf"
    old = OUT / f"{name}.json"
    if args.update and old.is_file():
        prev = json.loads(old.read_text())
        key = lambda r: (r["task"], r["recon"], r["profile"], r["rate"], r["block"])  # noqa: E731
        now = {key(r) for r in rows}
        rows = [r for r in prev["rows"] if key(r) not in now] + rows
        base = base or prev.get("baselines", [])
        cold = cold or prev.get("cold_start", [])
        errors = [e for e in prev.get("errors", []) if (e["task"], e["recon"]) not in {k[:2] for k in now}] + errors
        args.command = prev.get("args", {}).get("command", "python -m bench.rtf") + " ; " + args.command
    checks = targets(rows, cold, errors)
    print("\ntargets:")
    for c in checks:
        verdict, value = {True: "PASS", False: "MISS", None: "n/a "}[c["pass"]], c["value"]
        print(f"  {verdict}  {c['target']:42s} {c['subject']:28s} {'-' if value is None else f'{value:.3f}':>8s}"
              f" (limit {c['limit']:g}; {c['where']})")
    result = {"args": {k: v for k, v in vars(args).items()}, "providers": onnxruntime.get_available_providers(),
              "rows": rows, "errors": errors, "baselines": base, "baselines_mode": "offline, whole clip",
              "cold_start": cold, "targets": checks,
              "worst_rtf": max((r["rtf"] for r in rows), default=None)}
    write_json(name, result)
    if rows:
        plot(rows, base, name)
    return result


if __name__ == "__main__":
    main()
