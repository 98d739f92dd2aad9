"""Writes the bundled examples for superres, synth and pitch into streamproc/examples/.

    python -m bench.examples [--dest streamproc/examples]

One 8 s excerpt of a test-split work (never trained on), drawn deterministically by
``bench.testsets`` and rendered with FluidR3_GM at 16 kHz:

- ``melody.mid``: its melody (violin, GM 40) as MIDI, for ``streamproc synth melody.mid out.wav``;
- ``blueprint.flac``: the harmonic blueprint of melody.mid (3 harmonics, rolloff 0.5, no
  jitter, peak -12 dBFS: what ``streamproc synth`` feeds the model), for ``--task synth``;
- ``melody.flac``: the same notes played on violin (dry), for ``streamproc pitch``;
- ``melody-f0.csv``: the true f0 of melody.flac every 10 ms (``time,f0``; 0 = silent);
- ``lofi.flac``: the melody on violin over the work's accompaniment on piano, through 4 kHz
  and back with soxr HQ (the superres input, as in training), for ``--task superres``.

All mono 16-bit FLAC at 16 kHz. The script prints the work it drew; README.md lists it.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from . import testsets as T

DEST = Path(__file__).resolve().parent.parent / "streamproc" / "examples"
SECONDS = 8.0
SEED = 2024
PEAK_DB = -3.0             # melody.flac and lofi.flac (inside the training range, -24..-1 dBFS)
BLUEPRINT_PEAK_DB = -12.0  # as streamproc synth scales its blueprint
ACCOMP_DB = -6.0
MIN_NOTES = 20


def _peak(x: np.ndarray, db: float) -> np.ndarray:
    return np.asarray(x, np.float64) * (10.0 ** (db / 20.0) / max(float(np.abs(x).max()), 1e-9))


def _write_flac(path: Path, x: np.ndarray) -> None:
    from streamproc.audio_io import atomic_write

    atomic_write(path, lambda tmp: sf.write(tmp, np.clip(x, -1, 1), T.SAMPLE_RATE, subtype="PCM_16", format="FLAC"))


def _write_midi(path: Path, notes: np.ndarray, qpm: float) -> None:
    import pretty_midi

    from streamproc.audio_io import atomic_write

    pm = pretty_midi.PrettyMIDI(initial_tempo=qpm)
    inst = pretty_midi.Instrument(program=T.VIOLIN, name="violin")
    inst.notes = [pretty_midi.Note(int(v), int(m), float(s), float(e)) for s, e, m, v in notes]
    pm.instruments.append(inst)
    atomic_write(path, lambda tmp: pm.write(tmp))


def _write_csv(path: Path, times: np.ndarray, f0: np.ndarray) -> None:
    from streamproc.audio_io import atomic_write

    text = "time,f0\n" + "".join(f"{t:.2f},{f:.3f}\n" for t, f in zip(times, f0))
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def render(dest: Path) -> dict:
    """Render and write the examples; returns what was drawn."""
    from models import render as R
    from models.data import _fit_range, _with_velocity
    from streamproc.blueprint import harmonic_blueprint, melody_from_midi

    rng = np.random.default_rng(SEED)
    for _ in range(100):  # a lively tune: at least MIN_NOTES melody notes in the excerpt
        rel, mel, acc, info = T.draw_excerpt(T.test_works(), rng, SECONDS, need_accomp=True)
        if len(mel) >= MIN_NOTES:
            break
    n = int(round(SECONDS * T.SAMPLE_RATE))
    notes = _with_velocity(_fit_range(mel, *R.PROGRAM_RANGE[T.VIOLIN]), 90, rng)
    synth = T.fluid()
    violin = synth.render(notes, T.VIOLIN, n)
    piano = synth.render(_with_velocity(acc, 75, rng), 0, n)
    dest.mkdir(parents=True, exist_ok=True)

    _write_midi(dest / "melody.mid", notes, info["qpm"])
    midi_notes = melody_from_midi(dest / "melody.mid")
    blue = harmonic_blueprint(midi_notes, n, T.SYNTH_HARMONICS, T.SYNTH_ROLLOFF, rng=None)
    _write_flac(dest / "blueprint.flac", _peak(blue, BLUEPRINT_PEAK_DB))
    _write_flac(dest / "melody.flac", _peak(violin, PEAK_DB))
    _write_csv(dest / "melody-f0.csv", *T.f0_reference(notes[:, :3], SECONDS))
    duet = violin + piano * 10.0 ** (ACCOMP_DB / 20.0)
    _write_flac(dest / "lofi.flac", T.lofi(_peak(duet, PEAK_DB)))
    return {**info, "notes": len(notes), "files": {p: (dest / p).stat().st_size for p in
                                                   ("melody.mid", "blueprint.flac", "melody.flac",
                                                    "melody-f0.csv", "lofi.flac")}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.examples", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dest", type=Path, default=DEST)
    a = ap.parse_args(argv)
    got = render(a.dest)
    print(f"work {got['work']} (test split), t0 {got['t0']} s of the score at {got['qpm']} qpm, "
          f"transposed {got['transpose']:+d}, {got['notes']} melody notes")
    for name, size in got["files"].items():
        print(f"  {a.dest / name}: {size / 1024:.0f} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
