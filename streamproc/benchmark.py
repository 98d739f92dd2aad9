"""Real-time factor measurement, shared by ``streamproc bench`` and ``python -m bench.rtf``.

RTF = processing time / audio duration, streaming block by block through a Processor with
``reset=False``, as a host would call it.
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from .processor import Processor

EXAMPLE = Path(__file__).parent / "examples" / "violin.flac"


def measure(task: str, recon: str, rate: int, block: int, x: np.ndarray, model=None,
            profile: str = "default") -> dict:
    fx = Processor(task, recon, model=model, profile=profile)
    fx.process(x[: rate // 2], rate, reset=False)  # warm up (JIT cache, allocation)
    fx.reset()
    times = []
    t0 = time.perf_counter()
    for i in range(0, len(x), block):
        t = time.perf_counter()
        fx.process(x[i:i + block], rate, buffer_size=block, reset=False)
        times.append(time.perf_counter() - t)
    total = time.perf_counter() - t0
    ms = 1e3 * np.array(times)
    return {"task": task, "recon": recon, "profile": profile, "rate": rate, "block": block, "rtf": total / (len(x) / rate),
            "block_ms_p50": float(np.percentile(ms, 50)), "block_ms_p99": float(np.percentile(ms, 99)),
            "block_ms_max": float(ms.max()), "block_budget_ms": 1e3 * block / rate,
            "latency_samples": fx.latency_samples, "latency_ms": 1e3 * fx.latency_samples / rate}


HEADER = (f"{'task':8s} {'recon':6s} {'profile':11s} {'rate':>6s} {'block':>6s} {'rtf':>7s} {'p50 ms':>7s} "
          f"{'p99 ms':>7s} {'max ms':>7s} {'latency ms':>10s}")


def row_line(r: dict) -> str:
    return (f"{r['task']:8s} {r['recon']:6s} {r['profile']:11s} {r['rate']:6d} {r['block']:6d} {r['rtf']:7.4f} "
            f"{r['block_ms_p50']:7.3f} {r['block_ms_p99']:7.3f} {r['block_ms_max']:7.3f} {r['latency_ms']:10.1f}")
