"""Batch throughput: ``python -m bench.batch [--task T] [--short N] [--long N] [--long-s S] [--repeat R] [--ray ADDRESS]``.

Audio hours per hour (wall clock, worker start-up included) and the peak memory of each
worker, for ``--jobs 1`` and ``--jobs 2``, on the local pool and on Ray, on N short files
(2 s) and on N long ones (default 200 and 10 x 60 s), cut from the bundled examples.
Targets: jobs 2 at least 1.8x jobs 1 on this 2-core machine; Ray within 15 % of the local
pool. The runs are interleaved (each round runs every configuration once, local and Ray
alternating which goes first) and each figure is the median of R rounds (default 3), so a
busy spell on a shared machine hits both pools alike; the JSON keeps every run, the load
before it and the other processes that were busy when the benchmark started. Without
--ray a one-node cluster is started (``ray start --head --num-cpus 2``) and stopped.
Writes ``bench/out/batch.json``.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from streamproc.batch import run_batch
from streamproc.batch.manifest import MANIFEST_NAME
from streamproc.batch.work import Settings, default_format

from .common import write_json

EXAMPLES = Path(__file__).resolve().parents[1] / "streamproc" / "examples"
SPEEDUP, RAY_GAP = 1.8, 0.15


def make_inputs(root: Path, n: int, seconds: float) -> Path:
    """n files of the given length, cut and looped from the bundled examples (16 kHz mono)."""
    clips = [sf.read(str(p))[0] for p in sorted(EXAMPLES.glob("*.flac"))]
    need = int(seconds * 16000)
    for i in range(n):
        x = np.resize(np.roll(clips[i % len(clips)], 1237 * i), need)
        sf.write(str(root / f"f{i:04d}.flac"), x, 16000)
    return root


def measure(src: Path, work: Path, settings: Settings, jobs: int, ray: str | None) -> dict:
    out = work / f"out-{'ray' if ray else 'local'}-{jobs}"
    shutil.rmtree(out, ignore_errors=True)
    load = os.getloadavg()[0]
    s = run_batch([str(src)], out, settings, jobs=jobs, ray_address=ray, quiet=True, log=lambda *a, **k: None)
    recs = [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines()]
    peak = {}
    for r in recs:
        peak[r["worker"]] = max(peak.get(r["worker"], 0.0), r["peak_rss_mb"] or 0.0)
    return {"pool": "ray" if ray else "local", "jobs": jobs, "files": s.done, "failed": len(s.failed),
            "audio_h": s.audio_s / 3600, "wall_s": s.wall_s, "audio_h_per_h": s.audio_s / s.wall_s,
            "peak_rss_mb_per_worker": sorted(peak.values()), "load_before": load}


def busy_processes(min_cpu: float = 20.0) -> list[str]:
    """Other processes using at least min_cpu % of a core (ps's lifetime average): what else ran."""
    try:
        ps = subprocess.run(["ps", "-eo", "pid=,pcpu=,args="], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    out = []
    for line in ps.splitlines():
        pid, cpu, args = (line.split(None, 2) + ["", ""])[:3]
        if pid.isdigit() and int(pid) != os.getpid() and float(cpu or 0) >= min_cpu:
            out.append(f"{float(cpu):.0f}% {args[:160]}")
    return out


def median_rows(rows: list[dict]) -> list[dict]:
    """One row per (set, pool, jobs): the median throughput of its rounds, with their spread."""
    groups: dict = {}
    for r in rows:
        groups.setdefault((r["set"], r["pool"], r["jobs"]), []).append(r)
    out = []
    for (name, pool, jobs), rs in groups.items():
        rates = [r["audio_h_per_h"] for r in rs]
        peaks = sorted({p for r in rs for p in r["peak_rss_mb_per_worker"]})
        out.append({"set": name, "pool": pool, "jobs": jobs, "rounds": len(rs),
                    "audio_h_per_h": statistics.median(rates), "min": min(rates), "max": max(rates),
                    "peak_rss_mb_per_worker": [peaks[0], peaks[-1]] if peaks else []})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="separate")
    ap.add_argument("--short", type=int, default=200)
    ap.add_argument("--long", type=int, default=10)
    ap.add_argument("--long-s", type=float, default=60.0)
    ap.add_argument("--repeat", type=int, default=3, help="rounds; each figure is their median (default 3)")
    ap.add_argument("--ray", default=None, help="a running cluster's address (default: start one here)")
    ap.add_argument("--no-ray", action="store_true")
    a = ap.parse_args(argv)
    settings = Settings(task=a.task, fmt=default_format(a.task))
    others = busy_processes()
    started = False
    ray_bin = str(Path(sys.executable).with_name("ray"))
    if not a.no_ray and not a.ray:
        started = subprocess.run([ray_bin, "start", "--head", "--num-cpus", "2", "--disable-usage-stats"],
                                 capture_output=True).returncode == 0
        a.ray = "auto"
    rows = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            for name, n, sec in (("short", a.short, 2.0), ("long", a.long, a.long_s)):
                if n < 1:
                    continue
                src = work / name
                src.mkdir()
                make_inputs(src, n, sec)
                for rnd in range(a.repeat):
                    pools = [None] + ([] if a.no_ray else [a.ray])
                    for jobs in (1, 2):
                        for ray in (pools if rnd % 2 == 0 else pools[::-1]):
                            r = {"set": f"{n} x {sec:g} s", "round": rnd,
                                 **measure(src, work / f"out-{name}", settings, jobs, ray)}
                            rows.append(r)
                            print(f"{r['set']:>12} round {rnd} {r['pool']:>5} jobs {jobs}: "
                                  f"{r['audio_h_per_h']:7.1f} audio h/h, wall {r['wall_s']:6.1f} s, peak RSS/worker "
                                  f"{r['peak_rss_mb_per_worker']} MB, load before {r['load_before']:.2f}", flush=True)
    finally:
        if started:
            subprocess.run([ray_bin, "stop"], capture_output=True)
    medians = median_rows(rows)
    for m in medians:
        print(f"{m['set']:>12} {m['pool']:>5} jobs {m['jobs']}: median {m['audio_h_per_h']:7.1f} audio h/h "
              f"({m['min']:.1f}-{m['max']:.1f} over {m['rounds']} rounds)")
    targets = []
    for s in dict.fromkeys(r["set"] for r in medians):
        by = {(r["pool"], r["jobs"]): r["audio_h_per_h"] for r in medians if r["set"] == s}
        for pool in ("local", "ray"):
            if (pool, 1) in by:
                x = by[(pool, 2)] / by[(pool, 1)]
                targets.append({"set": s, "what": f"{pool} jobs 2 / jobs 1", "value": x, "target": f">= {SPEEDUP}",
                                "met": x >= SPEEDUP})
        if ("ray", 2) in by:
            gap = 1 - by[("ray", 2)] / by[("local", 2)]
            targets.append({"set": s, "what": "Ray below local (jobs 2)", "value": gap,
                            "target": f"<= {RAY_GAP:.0%}", "met": gap <= RAY_GAP})
    for t in targets:
        print(f"{t['set']:>12} {t['what']}: {t['value']:.2f} (target {t['target']}): "
              f"{'met' if t['met'] else 'MISSED'}")
    write_json("batch", {"task": a.task, "command": "python -m bench.batch " + " ".join(argv or sys.argv[1:]),
                         "busy_at_start": others, "medians": medians, "rows": rows, "targets": targets})
    return 0


if __name__ == "__main__":
    sys.exit(main())
