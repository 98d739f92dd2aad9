"""How far apart the soundfonts' instruments are: is an "unseen" soundfont's violin really unseen?

    python -m bench.soundfonts [--soundfonts FluidR3_GM,TimGM6mb,sf_GMbank,MuseScore_General_Lite,OPL-3_FM_128M]
                               [--programs 40,110,0] [--name soundfonts]

Each soundfont plays the same phrase (short notes across a violin's range, three dynamics) on
each GM program, peak-normalised, and every pair is compared by the log-mel L1 distance (dB) that
``bench.quality`` scores synth with. Two soundfonts that share their samples come out within a
dB or two; two different instruments, ten or more. A soundfont near a training one says little
about unseen timbres even if no model trained on it. Prints one matrix per program and writes
bench/out/NAME.json. Soundfonts that are not installed are skipped, with the package to install
(``models.render.SOUNDFONT_PACKAGES``).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from .common import write_json
from .quality import log_mel_l1_db

SOUNDFONTS = "FluidR3_GM,TimGM6mb,sf_GMbank,MuseScore_General_Lite,OPL-3_FM_128M"
PHRASE = np.array([[0.0, 0.9, 57, 100], [1.0, 1.9, 64, 90], [2.0, 2.9, 69, 90], [3.0, 3.9, 76, 70],
                   [4.0, 4.9, 83, 60]], float)  # start s, end s, MIDI, velocity


def distances(paths: Mapping[str, Path], program: int) -> np.ndarray:
    """Symmetric matrix of log-mel L1 distances (dB) between the soundfonts' renderings of PHRASE."""
    from models import render as R

    n = int(R.SAMPLE_RATE * (PHRASE[-1, 1] + 0.6))
    audio = []
    for path in paths.values():
        x = R.renderer(path).render(PHRASE, program, n).astype(np.float64)
        audio.append(x / max(float(np.abs(x).max()), 1e-9))
    d = np.zeros((len(audio), len(audio)))
    for i in range(len(audio)):
        for j in range(i + 1, len(audio)):
            d[i, j] = d[j, i] = log_mel_l1_db(audio[i], audio[j])
    return d


def main(argv: list[str] | None = None) -> int:
    from models import render as R

    ap = argparse.ArgumentParser(prog="python -m bench.soundfonts", description=__doc__.split("\n\n")[0])
    ap.add_argument("--soundfonts", default=SOUNDFONTS, help="comma-separated names or .sf2/.sf3 paths")
    ap.add_argument("--programs", default="40,110,0", help="GM programs (0-127), comma-separated (default "
                    "violin, fiddle, acoustic grand)")
    ap.add_argument("--name", default="soundfonts", help="output file stem under bench/out")
    a = ap.parse_args(argv)
    try:
        programs = [int(p) for p in a.programs.split(",") if p]
    except ValueError:
        programs = [-1]
    if not programs or any(not 0 <= p <= 127 for p in programs):
        ap.error(f"--programs {a.programs}: expected GM program numbers 0-127")
    paths = {}
    for name in [s for s in a.soundfonts.split(",") if s]:
        path = R.soundfont_path(name)
        if path.is_file():
            paths[R.soundfont_name(path)] = path
        else:
            print(f"skipped {name}: {path} not found{R.install_hint(path)}")
    if len(paths) < 2:
        ap.error("need at least two installed soundfonts")
    names = list(paths)
    width = max(len(n) for n in names)
    result = {}
    for program in programs:
        d = distances(paths, program)
        result[str(program)] = {a_: {b: round(float(d[i, j]), 2) for j, b in enumerate(names)} for i, a_ in enumerate(names)}
        print(f"\nprogram {program}: log-mel L1 dB between peak-normalised renderings of one phrase")
        print(" " * width + " " + " ".join(f"{n[:10]:>10s}" for n in names))
        for i, n in enumerate(names):
            seen = "*" if n in R.TRAINING_SOUNDFONTS else " "
            print(f"{n:{width}s}{seen}" + " ".join(f"{v:10.2f}" for v in d[i]))
    print("\n* a training soundfont")
    write_json(a.name, {"command": "python -m bench.soundfonts " + " ".join(argv if argv is not None else sys.argv[1:]),
                        "phrase": PHRASE.tolist(), "training": list(R.TRAINING_SOUNDFONTS),
                        "log_mel_l1_db": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
