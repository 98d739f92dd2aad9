"""Where our pitch tracker's raw-pitch errors are: near note changes, octaves, or elsewhere.

    python -m bench.pitch_errors [--soundfonts FluidR3_GM,MuseScore_General_Lite] [--clips 40]
                                 [--seed 1] [--seconds 10] [--model PATH] [--name pitch_errors]

On ``bench.quality``'s audio-aligned pitch clips (same soundfonts, seeds and labels), every
voiced reference frame that raw pitch accuracy counts wrong (more than 50 cents off) is put in
one class, checked in this order:

- ``octave``: within 50 cents of one octave up or down;
- ``transition``: within ``--near-ms`` of a change in the reference, a note change (more than
  half a semitone between 10 ms frames) or a voicing change;
- ``other``.

For the transition errors it also says whether the estimate shows the pitch the reference has
a few frames earlier (``late``: the change is detected late) or later (``early``), taking the
nearest such frame. Why it exists: it says whether a better model or a better decoding of the
frames around a note change is what the accuracy needs. Prints a table, writes
bench/out/NAME.json.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

from .common import write_json

CENTS_OK = 50.0
SOUNDFONTS = "FluidR3_GM,MuseScore_General_Lite"


def classify_errors(ref_f0: np.ndarray, est_f0: np.ndarray, hop_s: float, near_ms: float = 50.0,
                    max_offset: int = 5) -> dict:
    """Counts of the raw-pitch errors of ``est_f0`` (Hz on the reference's grid, a pitch or an
    unvoiced guess on every frame) against ``ref_f0`` (Hz, 0 = unvoiced), by class."""
    ref = np.asarray(ref_f0, float)
    est = np.asarray(est_f0, float)
    voiced = ref > 0
    cents = 1200.0 * np.log2(np.maximum(np.abs(est), 1e-3) / np.maximum(ref, 1e-3))
    wrong = voiced & (np.abs(cents) > CENTS_OK)
    octave = wrong & (np.abs(np.abs(cents) - 1200.0) <= CENTS_OK)
    midi = np.where(voiced, 12.0 * np.log2(np.maximum(ref, 1e-3) / 440.0), np.nan)
    change = np.zeros(len(ref), bool)
    with np.errstate(invalid="ignore"):
        change[1:] = (np.abs(np.diff(midi)) > 0.5) | (np.diff(voiced.astype(int)) != 0)
    reach = int(round(near_ms / 1000.0 / hop_s))
    near = np.convolve(change.astype(float), np.ones(2 * reach + 1), "same") > 0
    transition = wrong & ~octave & near
    late = early = 0
    for i in np.flatnonzero(transition):
        for k in sorted(range(-max_offset, max_offset + 1), key=abs):
            j = i + k
            if k and 0 <= j < len(ref) and voiced[j] and abs(1200.0 * np.log2(max(abs(est[i]), 1e-3) / ref[j])) <= CENTS_OK:
                late, early = late + (k < 0), early + (k > 0)
                break
    return {"voiced": int(voiced.sum()), "wrong": int(wrong.sum()), "octave": int(octave.sum()),
            "transition": int(transition.sum()), "other": int((wrong & ~octave & ~near).sum()),
            "transition_late": int(late), "transition_early": int(early)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.pitch_errors", description=__doc__.split("\n\n")[0])
    ap.add_argument("--soundfonts", default=SOUNDFONTS)
    ap.add_argument("--clips", type=int, default=40)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--near-ms", type=float, default=50.0)
    ap.add_argument("--model", help="a pitch ONNX model (default: the shipped one)")
    ap.add_argument("--name", default="pitch_errors")
    a = ap.parse_args(argv)

    from streamproc.pitch import track_pitch

    from . import testsets

    result = {}
    print(f"{'soundfont':24s} {'RPA':>6s} {'wrong':>6s} {'octave':>7s} {'transition':>11s} {'late':>6s} "
          f"{'early':>6s} {'other':>6s}")
    for sf_name in [s for s in a.soundfonts.split(",") if s]:
        total: dict[str, int] = {}
        for c in testsets.pitch_clips(sf_name, a.clips, a.seed, a.seconds):
            tr = track_pitch(c.input.astype(np.float32), testsets.SAMPLE_RATE, model=a.model)
            grid = np.arange(len(c.f0)) * testsets.F0_HOP
            est = np.interp(grid, tr.times, np.where(tr.f0 > 0, tr.f0, tr.f0_guess))
            for k, v in classify_errors(c.f0, est, testsets.F0_HOP, a.near_ms).items():
                total[k] = total.get(k, 0) + v
        rpa = 1.0 - total["wrong"] / max(total["voiced"], 1)
        result[sf_name] = total | {"rpa": round(rpa, 4)}
        print(f"{sf_name:24s} {rpa:6.3f} {total['wrong']:6d} {total['octave']:7d} {total['transition']:11d} "
              f"{total['transition_late']:6d} {total['transition_early']:6d} {total['other']:6d}")
    write_json(a.name, {"command": "python -m bench.pitch_errors " + " ".join(argv if argv is not None else sys.argv[1:]),
                        "clips": a.clips, "seed": a.seed, "seconds": a.seconds, "near_ms": a.near_ms,
                        "model": a.model or "shipped", "soundfonts": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
