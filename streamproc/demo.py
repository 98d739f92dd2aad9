"""``streamproc demo OUTDIR``: every task on the bundled examples, with pictures.

It runs the same commands a user would type (``render``, ``synth``, ``pitch``, ``compare``),
so the demo is also a check that each of them works on a fresh install with no user files.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from .errors import UserError

EXAMPLES = Path(__file__).parent / "examples"


def steps(out: Path) -> list[tuple[str, list[str]]]:
    """(what it shows, CLI arguments) for each demo step, in order."""
    ex = lambda name: str(EXAMPLES / name)  # noqa: E731
    o = lambda name: str(out / name)  # noqa: E731
    return [
        ("separate: the violin out of a violin + piano duet",
         ["render", ex("duet.flac"), o("separate-violin.wav"), "--task", "separate", "--quiet",
          "--plot", o("separate.png"), "--reference", ex("violin.flac")]),
        ("separate: where the estimate matches the true violin (cyan), misses it (red), lets piano in (white)",
         ["compare", ex("violin.flac"), o("separate-violin.wav"), "--plot", o("separate-overlay.png")]),
        ("superres: a 4 kHz-rate recording with its upper band filled in",
         ["render", ex("lofi.flac"), o("superres.wav"), "--task", "superres", "--quiet", "--plot", o("superres.png")]),
        ("synth: a MIDI melody played with violin timbre",
         ["synth", ex("melody.mid"), o("synth.wav")]),
        ("synth: a harmonic blueprint (sine harmonics) to violin",
         ["render", ex("blueprint.flac"), o("synth-blueprint.wav"), "--task", "synth", "--quiet",
          "--plot", o("synth.png")]),
        ("pitch: the f0 track of a solo melody (CSV every 10 ms, picture)",
         ["pitch", ex("melody.flac"), o("melody-f0.csv"), "--plot", o("pitch.png")]),
        ("pitch: the same melody's notes as MIDI",
         ["pitch", ex("melody.flac"), o("melody-notes.mid")]),
        ("pitch: the tracked pitch sonified (what the live effect plays)",
         ["render", ex("melody.flac"), o("pitch-sonified.wav"), "--task", "pitch", "--quiet"]),
    ]


def run_demo(out: Path, main: Callable[[list[str]], int]) -> None:
    """Runs each step through ``main`` (the CLI's entry point, passed in: the demo sits below it)."""
    if out.exists() and not out.is_dir():
        raise UserError(f"demo output must be a folder: {out} is a file")
    out.mkdir(parents=True, exist_ok=True)
    for what, argv in steps(out):
        print(f"\n== {what}\n$ streamproc {' '.join(argv)}", flush=True)
        t = time.perf_counter()
        if main(argv) != 0:
            raise UserError(f"demo step failed: streamproc {' '.join(argv)}")
        print(f"({time.perf_counter() - t:.1f} s)", flush=True)
    print(f"\nwrote {len(list(out.iterdir()))} files to {out}/")
