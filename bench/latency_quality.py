"""Heard latency against quality, for every profile and task: ``python -m bench.latency_quality
[--quality bench/out/quality-profiles.json] [--rate 48000]``.

Quality comes from a ``bench.quality`` report run over several profiles, e.g.
``python -m bench.quality --profile quality,default,low-latency,live --clips 6
--out bench/out/quality-profiles.json`` (each task's headline figure: separate SI-SDR, superres
LSD, synth log-mel L1, pitch RPA; per reconstruction). Heard latency is computed here from the
engine as ``live`` would report it (engine + pre-buffer + PortAudio's block) at ``--rate``, with
64-sample blocks for the ``live`` profile and 256 for the others (their live defaults). Writes
``bench/out/latency_quality.png`` and ``.json``.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .common import OUT, write_json

# task -> (summary key in bench.quality, axis label, higher is better)
FIGURES = {"separate": ("si_sdr_mean", "SI-SDR (dB)", True), "superres": ("lsd_mean", "LSD", False),
           "synth": ("logmel_l1_db_mean", "log-mel L1 (dB)", False), "pitch": ("rpa_mean", "RPA", True)}
BLOCKS = {"live": 64}
DEFAULT_BLOCK = 256


def heard_ms(task: str, recon: str, profile: str, rate: int) -> float | None:
    """What ``streamproc live`` reports for this pipeline at ``rate``, or None where it cannot run."""
    from streamproc.errors import UserError
    from streamproc.live import heard_latency_samples
    from streamproc.processor import Processor

    block = BLOCKS.get(profile, DEFAULT_BLOCK)
    try:
        p = Processor(task, recon, profile=profile)
        engine = p.latency_for(rate)
    except (UserError, OSError, ValueError):
        return None
    return 1e3 * heard_latency_samples(engine, block, rate, p.spec.profile.live_margin_ms) / rate


def collect(report: dict, rate: int) -> list[dict]:
    rows = []
    for profile, body in report["profiles"].items():
        for key, result in body["tasks"].items():
            task = key.split("/")[0]
            if task not in FIGURES:
                continue
            metric = FIGURES[task][0]
            for name, summary in result["summary"].items():
                recon = "sine" if task == "pitch" and name == "streamproc" else name
                if metric not in summary or (task == "pitch" and name != "streamproc"):
                    continue
                lat = heard_ms(task, recon, profile, rate)
                if lat is None:
                    continue
                rows.append({"task": key, "recon": recon, "profile": profile, "heard_ms": round(lat, 1),
                             "figure": metric, "value": summary[metric], "n": summary.get("n")})
    return rows


def plot(rows: list[dict], path: Path, rate: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(r["task"] for r in rows))
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.8), squeeze=False)
    markers = {"quality": "o", "default": "s", "low-latency": "^", "live": "*"}
    for ax, task in zip(axes[0], tasks):
        sel = [r for r in rows if r["task"] == task]
        for recon in dict.fromkeys(r["recon"] for r in sel):
            pts = sorted((r for r in sel if r["recon"] == recon), key=lambda r: r["heard_ms"])
            ax.plot([r["heard_ms"] for r in pts], [r["value"] for r in pts], "-", lw=0.8, alpha=0.6)
            for r in pts:
                ax.plot(r["heard_ms"], r["value"], markers.get(r["profile"], "x"), ms=8, color=ax.lines[-1].get_color(),
                        label=f"{recon} / {r['profile']}")
        label, better_high = FIGURES[task.split("/")[0]][1:]
        ax.set(xscale="log", xlabel=f"heard latency at {rate / 1000:g} kHz (ms)", ylabel=label,
               title=f"{task} ({'higher' if better_high else 'lower'} is better)")
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quality", type=Path, default=OUT / "quality-profiles.json")
    ap.add_argument("--rate", type=int, default=48000)
    a = ap.parse_args(argv)
    try:
        report = json.loads(a.quality.read_text())
    except (OSError, ValueError) as e:
        print(f"bench.latency_quality: cannot read {a.quality}: {e}", file=sys.stderr)
        return 2
    rows = collect(report, a.rate)
    for r in rows:
        print(f"{r['task']:30s} {r['recon']:12s} {r['profile']:12s} heard {r['heard_ms']:7.1f} ms  "
              f"{r['figure']} {r['value']:.3f}")
    write_json("latency_quality", {"rate": a.rate, "source": str(a.quality), "rows": rows})
    plot(rows, OUT / "latency_quality.png", a.rate)
    print(f"wrote {OUT / 'latency_quality.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
