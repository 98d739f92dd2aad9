"""Phase reconstruction in the low-delay framing: streaming PGHI grains against Griffin-Lim.

``python -m bench.lowdelay_phase [--seconds 8] [--delays 3,4,6,8]``: the bundled violin and
piano examples (16 kHz) through ``resynth`` (the identity translation: what the
reconstruction alone costs) with ``--recon gla`` under ``quality`` and ``default`` (streaming
Griffin-Lim, full-window overlap-add) and under ``live`` (PGHI, two-hop grains read
``delay`` hops before each window's end), each output aligned at its engine's declared
latency. Figures: spectral convergence (dB, STFT n_fft 1024 hop 256), log-mel L1 (dB), the
mean level bias over the loud bins (output minus input, dB), real-time factor, and PGHI alone
on true magnitudes (no mel in between) as the method's own ceiling. Writes
``bench/out/lowdelay_phase.json``.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from streamproc import dsp
from streamproc.audio_io import read_audio
from streamproc.config import DEFAULT as CFG
from streamproc.engine import Engine
from streamproc.pghi import StreamingPGHI
from streamproc.spec import resolve
from streamproc.tasks import build_core

from .common import write_json

EXAMPLES = Path(__file__).resolve().parents[1] / "streamproc" / "examples"
SPAN = (CFG.db_ceil - CFG.db_floor) / 2.0  # dB per feature unit


def _clip(name: str, seconds: float) -> np.ndarray:
    x, rate = read_audio(EXAMPLES / f"{name}.flac")
    import soxr

    mono = np.asarray(x, dtype=np.float64).mean(axis=0)  # (channels, samples)
    return soxr.resample(mono, rate, CFG.sample_rate)[: int(seconds * CFG.sample_rate)]


def _render(spec, x: np.ndarray) -> tuple[np.ndarray, int, float]:
    engine = Engine(build_core(spec, rate=CFG.sample_rate), CFG.sample_rate, CFG.sample_rate)
    lat = engine.latency_samples
    t = time.perf_counter()
    y = np.concatenate([engine.process(x[i:i + 256]) for i in range(0, len(x), 256)]
                       + [engine.process(np.zeros(lat + 256))])
    return y[lat:lat + len(x)], lat, (time.perf_counter() - t) / (len(x) / CFG.sample_rate)


def _scores(x: np.ndarray, y: np.ndarray) -> dict:
    target = np.abs(dsp.stft(x, CFG))
    fx, fy = dsp.log_mel_features(x, CFG), dsp.log_mel_features(y, CFG)
    loud = fx > fx.max() - 60.0 / SPAN
    return {"sc_db": round(dsp.spectral_convergence_db(target, dsp.stft(y, CFG, target.shape[0])), 2),
            "logmel_l1_db": round(float(np.mean(np.abs(fx - fy)) * SPAN), 2),
            "loud_bias_db": round(float(np.mean((fy - fx)[loud]) * SPAN), 2)}


def _pghi_alone(x: np.ndarray, hop: int) -> float:
    """PGHI on a clip's own Hann magnitudes (no mel), full overlap-add: SC in dB."""
    n = CFG.n_fft
    w = dsp.analysis_window(n)
    pad = np.concatenate([np.zeros(n), x, np.zeros(n)])
    count = (len(pad) - n) // hop
    frames = np.stack([pad[k * hop:k * hop + n] * w for k in range(count)])
    mag = np.abs(np.fft.rfft(frames, axis=1))
    spec = StreamingPGHI(n, hop).push(mag)
    y, norm = np.zeros(len(pad)), np.zeros(len(pad))
    for k, f in enumerate(np.roll(np.fft.irfft(spec, n, axis=1), n // 2, axis=1) * w):
        y[k * hop:k * hop + n] += f
        norm[k * hop:k * hop + n] += w * w
    y /= np.maximum(norm, 1e-12)
    again = np.abs(np.fft.rfft(np.stack([y[k * hop:k * hop + n] * w for k in range(count)]), axis=1))
    return round(float(20 * np.log10(np.linalg.norm(again - mag) / np.linalg.norm(mag))), 2)


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--delays", default="3,4,6,8", help="live grain delays in hops (6 ships)")
    args = ap.parse_args(argv)
    delays = [int(d) for d in args.delays.split(",")]
    rows = []
    for name in ("violin", "piano"):
        x = _clip(name, args.seconds)
        runs = [(p, resolve("resynth", "gla", p), None) for p in ("quality", "default")]
        live = resolve("resynth", "gla", "live")
        assert live.profile.low_delay is not None
        for d in delays:
            ld = replace(live.profile.low_delay, grain_delays=(("gla", d),))
            runs.append(("live", replace(live, profile=replace(live.profile, low_delay=ld)), d))
        for profile, spec, d in runs:
            y, lat, rtf = _render(spec, x)
            row = {"clip": name, "profile": profile, "grain_delay_hops": d,
                   "engine_ms_16k": round(1e3 * lat / CFG.sample_rate, 1), "rtf": round(rtf, 3), **_scores(x, y)}
            rows.append(row)
            print(row, flush=True)
        print({"clip": name, "pghi_alone_sc_db_hop64": _pghi_alone(x, 64), "hop256": _pghi_alone(x, 256)}, flush=True)
        rows.append({"clip": name, "pghi_alone_sc_db": {"hop64": _pghi_alone(x, 64), "hop256": _pghi_alone(x, 256)}})
    payload = {"rows": rows, "command": "python -m bench.lowdelay_phase " + " ".join(argv or [])}
    write_json("lowdelay_phase", payload)
    return payload


if __name__ == "__main__":
    main()
