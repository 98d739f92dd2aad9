"""What each soxr quality costs the live path at a 48 kHz host: latency against fidelity.

The engine runs at 16 kHz; a 48 kHz host goes through soxr down and back up. Per quality:
the declared latency both ways (the engine's figure, ``streamproc.resample``); down, the
in-band (0-7 kHz) SNR of a broadband clip (the violin example plus a 20-harmonic sawtooth
reaching 20 kHz) against a VHQ reference, which shows aliasing folded into the band; round
trip, the in-band SNR of the violin example through 16 kHz and back and the level of the
images above 8 kHz relative to the signal. ``python -m bench.resample``; JSON in
bench/out/resample.json.
"""
from __future__ import annotations

import numpy as np
import soundfile as sf
import soxr
from scipy.signal import butter, sosfiltfilt

from streamproc.benchmark import EXAMPLES
from streamproc.resample import input_wait_and_holdback

from .common import write_json

HOST, MODEL = 48000, 16000
QUALITIES = ("QQ", "LQ", "MQ", "HQ")


def _db(num: np.ndarray, den: np.ndarray) -> float:
    return float(10 * np.log10(np.sum(num ** 2) / np.sum(den ** 2)))


def _lowpass(x: np.ndarray, hz: float, rate: int) -> np.ndarray:
    return sosfiltfilt(butter(12, hz, fs=rate, output="sos"), x)


def measure() -> dict:
    violin16, _ = sf.read(str(EXAMPLES / "violin.flac"))
    violin = soxr.resample(violin16, MODEL, HOST, "VHQ")
    t = np.arange(len(violin)) / HOST
    saw = sum(np.sin(2 * np.pi * 440 * k * t) / k for k in range(1, 21)) * 0.05
    broad = violin + saw
    ref_down = _lowpass(soxr.resample(broad, HOST, MODEL, "VHQ"), 7000, MODEL)
    rows = {}
    for q in QUALITIES:
        down_in = input_wait_and_holdback(HOST, MODEL, 32, q, True)
        up = input_wait_and_holdback(MODEL, HOST, 256, q, False)
        down = _lowpass(soxr.resample(broad, HOST, MODEL, q), 7000, MODEL)
        n = min(len(down), len(ref_down))
        back = soxr.resample(soxr.resample(violin, HOST, MODEL, q), MODEL, HOST, q)[: len(violin)]
        band, ref = _lowpass(back, 7000, HOST), _lowpass(violin[: len(back)], 7000, HOST)
        images = back - _lowpass(back, 8000, HOST)
        rows[q] = {"latency_ms": 1e3 * down_in / MODEL + 1e3 * up / HOST,
                   "down_band_snr_db": _db(ref_down[:n], down[:n] - ref_down[:n]),
                   "round_trip_band_snr_db": _db(ref, band - ref),
                   "images_db": _db(images, back)}
    return rows


def main() -> None:
    rows = measure()
    print("quality | latency ms (48k->16k->48k) | down SNR 0-7 kHz, broadband | round trip SNR 0-7 kHz | images > 8 kHz")
    for q, r in rows.items():
        print(f"{q:7} | {r['latency_ms']:26.1f} | {r['down_band_snr_db']:27.1f} | "
              f"{r['round_trip_band_snr_db']:22.1f} | {r['images_db']:8.1f} dB")
    write_json("resample", {"host_rate": HOST, "model_rate": MODEL, "qualities": rows})


if __name__ == "__main__":
    main()
