"""Peak memory and wall time of the file commands on long inputs: ``python -m bench.memory [--minutes 1 10 60]``.

Every command streams (``streamproc.render.FileRenderer``, ``streamproc.analysis``), so its
peak resident memory should not grow with the file's length. For each length this writes
stereo 44.1 kHz FLAC inputs looped from the bundled examples (each task its own material:
the duet for ``separate``, the 4 kHz-band recording for ``superres``, the harmonic blueprint
for ``synth``, the solo melody for ``pitch``) and a MIDI file of the melody looped to the
same length, then runs each command in a fresh Python process and reads that process's peak
RSS from ``os.wait4`` (the kernel's ``ru_maxrss``, taken by a bare interpreter that forks it,
so the benchmark's own memory does not count) and its wall time:

- ``render --task separate``, ``superres`` and ``synth`` (44.1 kHz stereo FLAC out);
- ``synth MELODY.mid`` (16 kHz mono FLAC out);
- ``pitch IN OUT.csv``;
- ``compare IN SEPARATED`` (the input against the separate output: SI-SDR and LSD).

Target: every command under 1 GB at 60 minutes. Prints a table and writes
``bench/out/memory.json`` (``--update`` merges a run into it, keyed by command and length).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from .common import OUT, write_json

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "streamproc" / "examples"
RATE, CHANNELS = 44100, 2
TARGET_MB = 1024.0
SOURCES = {"separate": "duet.flac", "superres": "lofi.flac", "synth": "blueprint.flac", "pitch": "melody.flac"}


def _clip(name: str) -> np.ndarray:
    """A bundled example at 44.1 kHz, stereo (the second channel a shifted copy)."""
    import soxr

    x, sr = sf.read(str(EXAMPLES / name))
    y = soxr.resample(x, sr, RATE)
    return np.stack([y, np.roll(y, 4410)], axis=1)


def make_audio(path: Path, name: str, minutes: float) -> Path:
    """``minutes`` of the example looped, written in blocks (16-bit FLAC)."""
    clip = _clip(name)
    left = int(round(minutes * 60 * RATE))
    with sf.SoundFile(str(path), "w", RATE, CHANNELS, "PCM_16", format="FLAC") as f:
        while left > 0:
            f.write(clip[:left])
            left -= len(clip[:left])
    return path


def make_midi(path: Path, minutes: float) -> Path:
    """The bundled melody's notes looped to ``minutes``."""
    import pretty_midi

    src = pretty_midi.PrettyMIDI(str(EXAMPLES / "melody.mid"))
    notes = [n for inst in src.instruments if not inst.is_drum for n in inst.notes]
    span = max(n.end for n in notes)
    pm = pretty_midi.PrettyMIDI()
    inst = pretty_midi.Instrument(program=40)
    k = 0
    while (k + 1) * span <= minutes * 60:
        inst.notes += [pretty_midi.Note(n.velocity, n.pitch, n.start + k * span, n.end + k * span) for n in notes]
        k += 1
    pm.instruments.append(inst)
    pm.write(str(path))
    return path


# A bare interpreter that forks the command and reports the child's rusage: a process started
# straight from a large parent inherits the parent's resident size as its ru_maxrss floor
# (Linux keeps the high-water mark across exec), so the measuring process must be small.
SPAWN = """import os, sys
pid = os.fork()
if pid == 0:
    os.execv(sys.executable, [sys.executable, "-m", "streamproc", *sys.argv[1:]])
_, status, usage = os.wait4(pid, 0)
print("@@rusage", os.waitstatus_to_exitcode(status), usage.ru_maxrss, flush=True)
"""


def run_child(argv: list[str]) -> dict:
    """One command in a fresh interpreter: exit status, wall seconds, peak RSS of that process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    t0 = time.perf_counter()
    p = subprocess.run([sys.executable, "-c", SPAWN, *argv], env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    out, _, tail = p.stdout.rpartition("@@rusage ")
    rc, maxrss_kb = (int(v) for v in tail.split()) if tail else (p.returncode, 0)
    return {"rc": rc, "wall_s": round(wall, 2), "peak_rss_mb": round(maxrss_kb / 1024, 1),
            "stdout": out.strip()[-300:], "stderr": p.stderr.strip()[-300:]}


def commands(work: Path, minutes: float) -> list[tuple[str, list[str], float]]:
    """(name, argv, audio seconds) of every measured command for one length, inputs written."""
    ins = {task: make_audio(work / f"{task}-in.flac", name, minutes) for task, name in SOURCES.items()}
    mid = make_midi(work / "melody.mid", minutes)
    sec = minutes * 60
    sep = work / "separate-out.flac"
    return [("render separate", ["render", str(ins["separate"]), str(sep), "--task", "separate", "--quiet"], sec),
            ("render superres", ["render", str(ins["superres"]), str(work / "superres-out.flac"), "--task",
                                 "superres", "--quiet"], sec),
            ("render synth", ["render", str(ins["synth"]), str(work / "synth-out.flac"), "--task", "synth",
                              "--quiet"], sec),
            ("synth MIDI", ["synth", str(mid), str(work / "midi-out.flac"), "--quiet"], sec),
            ("pitch CSV", ["pitch", str(ins["pitch"]), str(work / "pitch.csv")], sec),
            ("compare", ["compare", str(ins["separate"]), str(sep)], sec)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, nargs="+", default=[1, 10, 60], help="input lengths (default 1 10 60)")
    ap.add_argument("--only", nargs="*", default=None, help="command names to run (e.g. 'render separate' compare)")
    ap.add_argument("--work", default=None, help="folder for the generated files (default: a temporary one)")
    ap.add_argument("--update", action="store_true", help="merge into bench/out/memory.json instead of replacing it")
    args = ap.parse_args(argv)
    if any(not m > 0 for m in args.minutes):
        ap.error("--minutes must be positive")
    rows = []
    print(f"{'command':<18} {'minutes':>7} {'peak RSS MB':>11} {'wall s':>8} {'RTF':>6}  ok")
    for minutes in args.minutes:
        work = Path(args.work) / f"{minutes:g}min" if args.work else Path(tempfile.mkdtemp(prefix="bench-memory-"))
        work.mkdir(parents=True, exist_ok=True)
        try:
            for name, cmd, sec in commands(work, minutes):
                if args.only is not None and name not in args.only and not (name == "render separate"
                                                                             and "compare" in args.only):
                    continue
                r = run_child(cmd)
                shown = ["streamproc", *(Path(a).name if a.startswith(str(work)) else a for a in cmd)]
                row = {"command": name, "minutes": minutes, "audio_s": sec, "argv": shown,
                       **r, "rtf": round(r["wall_s"] / sec, 4), "load_after": round(os.getloadavg()[0], 2)}
                rows.append(row)
                ok = "ok" if r["rc"] == 0 and r["peak_rss_mb"] < TARGET_MB else f"rc {r['rc']}: {r['stderr'][-120:]}"
                print(f"{name:<18} {minutes:>7g} {r['peak_rss_mb']:>11.1f} {r['wall_s']:>8.1f} {row['rtf']:>6.3f}  {ok}",
                      flush=True)
        finally:
            if not args.work:
                shutil.rmtree(work, ignore_errors=True)
    runs = ["python -m bench.memory " + " ".join(argv if argv is not None else sys.argv[1:])]
    if args.update and (OUT / "memory.json").exists():
        old = json.loads((OUT / "memory.json").read_text())
        keep = [r for r in old["rows"] if (r["command"], r["minutes"]) not in {(x["command"], x["minutes"]) for x in rows}]
        rows = sorted(keep + rows, key=lambda r: (r["minutes"], r["command"]))
        runs = old.get("runs", [old.get("command")]) + runs
    worst = max((r["peak_rss_mb"] for r in rows if r["minutes"] >= 60), default=None)
    write_json("memory", {"runs": runs, "target_mb_at_60_min": TARGET_MB, "input": f"{CHANNELS} ch, {RATE} Hz FLAC",
                          "worst_60_min_mb": worst, "rows": rows})
    return 0 if all(r["rc"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
