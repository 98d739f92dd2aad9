"""``streamproc batch``'s arguments and command (registered by :mod:`streamproc.cli`)."""
from __future__ import annotations

import argparse
import sys

from ..level import LEVELS
from .work import DEVICES, FORMATS, Settings, default_format

EPILOG = ("Exit status: 0 every file done or skipped, 1 some failed (listed, and in the manifest), "
          "2 a mistake caught before any work, 130/143 interrupted (the same command resumes).")


def add_parser(sub) -> None:
    from ..tasks import OFFLINE_PROFILE, PROFILES, RECONS

    b = sub.add_parser("batch", help="process folders, globs or lists of files (resumable; local pool or Ray)",
                       epilog=EPILOG)
    b.add_argument("inputs", nargs="+", metavar="INPUT",
                   help="folders (searched recursively), globs ('**' too; quote them) or list files (.txt, .csv)")
    b.add_argument("--out", required=True, metavar="DIR",
                   help="output folder: mirrors the input tree, holds batch-manifest.jsonl")
    b.add_argument("--task", required=True, help=f"one of: {', '.join(RECONS)}")
    b.add_argument("--recon", default=None, help="reconstruction (default: the task's best in the profile; streamproc models lists them)")
    b.add_argument("--profile", default=OFFLINE_PROFILE, help=f"{' | '.join(PROFILES)} (default {OFFLINE_PROFILE})")
    b.add_argument("--format", default=None, choices=FORMATS, metavar="FMT",
                   help="wav | flac (audio tasks; default wav) or csv | mid | json (pitch; default csv)")
    b.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="worker processes (default: the number of cores; with --ray: the cluster's)")
    b.add_argument("--ray", default=None, metavar="ADDRESS",
                   help="run on a Ray cluster: 'auto' (the one `ray start` made) or ray://host:port")
    b.add_argument("--gpus-per-worker", type=float, default=0.0, metavar="G",
                   help="with --ray: GPUs each worker asks for (places workers on GPU nodes)")
    b.add_argument("--device", default="auto", choices=DEVICES,
                   help="onnxruntime provider: auto (CUDA where available), cpu or cuda")
    b.add_argument("--level", default="auto", choices=LEVELS,
                   help="auto (default): the models hear each file without its DC offset and as loud as the audio "
                        "they trained on, and its output is brought back to its level; off: every file as it is")
    b.add_argument("--quiet", action="store_true", help="no progress bar")


def cmd_batch(args: argparse.Namespace) -> int:
    from .runner import Interrupted, run_batch

    settings = Settings(task=args.task, recon=args.recon, profile=args.profile,
                        fmt=args.format or default_format(args.task), device=args.device,
                        level=args.level)
    try:
        summary = run_batch(args.inputs, args.out, settings, jobs=args.jobs, ray_address=args.ray,
                            gpus_per_worker=args.gpus_per_worker, quiet=args.quiet)
    except Interrupted as exc:  # before any file was handed out
        print(f"streamproc: interrupted ({exc.args[0]}); nothing was written", file=sys.stderr)
        return 143 if exc.args[0] == "SIGTERM" else 130
    for line in summary.lines():
        print(line, file=sys.stderr if line.startswith("failed") else sys.stdout)
    return summary.exit_status

