"""Phase reconstruction: streaming Griffin-Lim (RTISI-LA) vs offline fast GLA vs librosa.

Spectral convergence (dB, lower is better) on the true linear magnitudes of violin and piano
clips of test-split works (n_fft 1024, hop 256, 16 kHz), and cost per frame / real-time factor,
all measured in the same run: ``python -m bench.phase [--count N]``.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from streamproc import dsp
from streamproc.config import DEFAULT as CFG
from streamproc.griffinlim import StreamingGriffinLim, griffinlim

from .clips import test_clips
from .common import write_json

STREAMING = [(3, 6), (3, 8), (1, 8), (2, 8), (4, 8)]  # (lookahead frames, iterations); (3, 6) default, (1, 8) low-latency


def _sc(mag: np.ndarray, y: np.ndarray) -> float:
    return dsp.spectral_convergence_db(mag, dsp.stft(y, CFG, mag.shape[0]))


def _timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--count", type=int, default=3, help="clips per instrument")
    args = ap.parse_args(argv)
    import librosa

    StreamingGriffinLim(CFG).reconstruct(np.ones((8, CFG.n_bins)))  # compile before timing
    rows = []
    for inst in ("violin", "piano"):
        for name, x in test_clips(inst, args.count):
            mag = np.abs(dsp.stft(x, CFG))
            n_frames, dur = mag.shape[0], len(x) / CFG.sample_rate
            lib_mag = np.abs(librosa.stft(x, n_fft=CFG.n_fft, hop_length=CFG.hop))
            y, t = _timed(lambda: librosa.griffinlim(lib_mag, n_iter=32, hop_length=CFG.hop,
                                                     n_fft=CFG.n_fft, momentum=0.99,
                                                     length=len(x), random_state=0))
            row = {"clip": name, "instrument": inst, "seconds": dur,
                   "librosa_gla32": {"sc_db": _sc(mag, y), "rtf": t / dur, "ms_per_frame": 1e3 * t / n_frames}}
            y, t = _timed(lambda: griffinlim(mag, CFG, n_iter=32, momentum=0.99, length=len(x)))
            row["fgla32"] = {"sc_db": _sc(mag, y), "rtf": t / dur, "ms_per_frame": 1e3 * t / n_frames}
            for la, it in STREAMING:
                g = StreamingGriffinLim(CFG, lookahead=la, iterations=it)
                y, t = _timed(lambda: g.reconstruct(mag, len(x)))
                row[f"rtisi_la{la}_it{it}"] = {"sc_db": _sc(mag, y), "rtf": t / dur,
                                               "ms_per_frame": 1e3 * t / n_frames}
            rows.append(row)
            print(f"{name:42s} " + "  ".join(f"{k}: {v['sc_db']:6.1f} dB {v['ms_per_frame']:.3f} ms/fr"
                                               for k, v in row.items() if isinstance(v, dict)))
    methods = [k for k in rows[0] if isinstance(rows[0][k], dict)]
    summary = {}
    for m in methods:
        for inst in ("violin", "piano", "all"):
            sel = [r[m] for r in rows if inst == "all" or r["instrument"] == inst]
            summary.setdefault(m, {})[inst] = {
                "sc_db": float(np.mean([s["sc_db"] for s in sel])),
                "ms_per_frame": float(np.mean([s["ms_per_frame"] for s in sel])),
                "rtf": float(np.mean([s["rtf"] for s in sel]))}
    print("\nmean over clips (spectral convergence dB | ms per frame | real-time factor):")
    for m, by in summary.items():
        print(f"  {m:16s} " + "  ".join(f"{i}: {v['sc_db']:6.1f} dB {v['ms_per_frame']:.3f} ms {v['rtf']:.4f}"
                                        for i, v in by.items()))
    result = {"config": CFG.as_dict(), "clips": rows, "summary": summary,
              "target": "streaming <= -25 dB at <= 0.5 ms per frame"}
    write_json("phase", result)
    return result


if __name__ == "__main__":
    main()
