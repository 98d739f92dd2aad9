"""Real-time factor of the streaming engine: ``python -m bench.rtf [--tasks resynth] [--seconds S]``.

RTF = processing time / audio duration, streaming block by block through a Processor with
``reset=False`` (as a host would), for every task x recon at block sizes 64..4096 and host
rates 16, 44.1 and 48 kHz; also the per-block time distribution and the declared latency.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import streamproc
from streamproc.tasks import RECONS

from .clips import test_clips
from .common import write_json

BLOCKS = (64, 128, 256, 512, 1024, 2048, 4096)
RATES = (16000, 44100, 48000)


def measure(task: str, recon: str, rate: int, block: int, x: np.ndarray) -> dict:
    fx = streamproc.Processor(task, recon)
    fx.process(x[: rate // 2], rate, reset=False)  # warm up (JIT, allocation)
    fx.reset()
    times = []
    t0 = time.perf_counter()
    for i in range(0, len(x), block):
        t = time.perf_counter()
        fx.process(x[i:i + block], rate, buffer_size=block, reset=False)
        times.append(time.perf_counter() - t)
    total = time.perf_counter() - t0
    ms = 1e3 * np.array(times)
    return {"task": task, "recon": recon, "rate": rate, "block": block, "rtf": total / (len(x) / rate),
            "block_ms_p50": float(np.percentile(ms, 50)), "block_ms_p99": float(np.percentile(ms, 99)),
            "block_ms_max": float(ms.max()), "block_budget_ms": 1e3 * block / rate,
            "latency_samples": fx.latency_samples, "latency_ms": 1e3 * fx.latency_samples / rate}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="*", default=list(RECONS))
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--blocks", nargs="*", type=int, default=list(BLOCKS))
    ap.add_argument("--rates", nargs="*", type=int, default=list(RATES))
    args = ap.parse_args(argv)
    import soxr

    name, clip16 = test_clips("violin", 1, args.seconds)[0]
    rows = []
    print(f"clip {name}; RTF = processing time / duration (target <= 0.05 for resynth)")
    print(f"{'task':8s} {'recon':6s} {'rate':>6s} {'block':>6s} {'rtf':>7s} {'p50 ms':>7s} {'p99 ms':>7s} {'max ms':>7s} {'latency ms':>10s}")
    for task in args.tasks:
        for recon in RECONS[task]:
            for rate in args.rates:
                x = clip16 if rate == 16000 else soxr.resample(clip16, 16000, rate)
                for block in args.blocks:
                    r = measure(task, recon, rate, block, x)
                    rows.append(r)
                    print(f"{task:8s} {recon:6s} {rate:6d} {block:6d} {r['rtf']:7.4f} {r['block_ms_p50']:7.3f} "
                          f"{r['block_ms_p99']:7.3f} {r['block_ms_max']:7.3f} {r['latency_ms']:10.1f}")
    worst = max(r["rtf"] for r in rows)
    print(f"worst real-time factor: {worst:.4f}")
    result = {"clip": name, "seconds": args.seconds, "rows": rows, "worst_rtf": worst}
    write_json("rtf", result)
    return result


if __name__ == "__main__":
    main()
