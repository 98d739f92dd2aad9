"""Real-time factor of the streaming engine: ``python -m bench.rtf [--tasks resynth] [--seconds S]``.

RTF = processing time / audio duration, streaming block by block through a Processor with
``reset=False`` (as a host would), for every task x recon x profile at block sizes 64..4096
and host rates 16, 44.1 and 48 kHz; also the per-block time distribution and the declared
latency.
"""
from __future__ import annotations

import argparse

from streamproc.benchmark import HEADER, measure, row_line
from streamproc.tasks import MODEL_TASKS, PROFILES, RECONS, shipped_model

from .clips import test_clips
from .common import write_json

BLOCKS = (64, 128, 256, 512, 1024, 2048, 4096)
RATES = (16000, 44100, 48000)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="*", default=[t for t in RECONS if t not in MODEL_TASKS or shipped_model(t)])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--blocks", nargs="*", type=int, default=list(BLOCKS))
    ap.add_argument("--rates", nargs="*", type=int, default=list(RATES))
    ap.add_argument("--profiles", nargs="*", default=list(PROFILES))
    args = ap.parse_args(argv)
    import soxr

    name, clip16 = test_clips("violin", 1, args.seconds)[0]
    rows = []
    print(f"clip {name}; RTF = processing time / duration (target <= 0.05 for resynth)")
    print(HEADER)
    for task in args.tasks:
        for recon in RECONS[task]:
            for profile in args.profiles:
                for rate in args.rates:
                    x = clip16 if rate == 16000 else soxr.resample(clip16, 16000, rate)
                    for block in args.blocks:
                        r = measure(task, recon, rate, block, x, profile=profile)
                        rows.append(r)
                        print(row_line(r))
    worst = max(r["rtf"] for r in rows)
    print(f"worst real-time factor: {worst:.4f}")
    result = {"clip": name, "seconds": args.seconds, "rows": rows, "worst_rtf": worst}
    write_json("rtf", result)
    return result


if __name__ == "__main__":
    main()
