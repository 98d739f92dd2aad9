"""Quality of the `separate` task on the test split: SI-SDR and log-spectral distance.

    python -m bench.separate_eval --model streamproc/models_data/separate.onnx
                                  [--clips 24] [--seconds 10] [--seed 1234] [--data data/separate-test]

Clips: violin (GM program 40) + piano-family duets of test-split corpus works (the test
split), rendered with FluidR3_GM by the training-data renderer (``models.render``) with the
same augmentation as ``models.data`` (tempo, transposition, velocity, accompaniment level
-9..+3 dB, room on 60 % of clips, peak gain), but 10 s long and with the violin the lead
(``render_clip`` can also put it on an inner voice and use another soundfont, for
``bench.quality``'s other sets). Clip *i* depends only on (seed, i).

Estimates of the violin stem, each scored against the true (same room, same gain) stem:
- ``mask`` / ``gla``: ``streamproc.Processor(task="separate", recon=R, model=PATH)`` with
  ``reset=True`` (time-aligned, same length);
- ``mixture``: the mix itself (what doing nothing scores);
- ``oracle_irm``: the ideal ratio mask |V| / (|V| + |P|) on the mix STFT, input phase
  (an upper bound for mask-type methods at this STFT);
- ``stem_resynth_gla``: the true violin stem through ``Processor(task="resynth", recon="gla")``
  (mel -> descale -> streaming Griffin-Lim, no model): what the ``gla`` reconstruction alone
  costs. Griffin-Lim phase is not the stem's phase, so SI-SDR (a waveform metric) is not
  meaningful for the ``gla`` rows; compare them by LSD.

Metrics (``streamproc.metrics``): SI-SDR (dB, zero-mean signals, Le Roux et al. 2019) and log-spectral distance
(mean over frames of sqrt(mean over bins of (log10(|S_ref|^2+eps) - log10(|S_est|^2+eps))^2),
16 kHz STFT magnitudes, n_fft 1024, hop 256, eps 1e-10). With ``--data`` (a test-split set
from ``python -m models.data --split test``) also the mean L1 of the model's mel image against
the target image, beside the input image's. Prints a table, writes bench/out/separate_eval.json.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from streamproc.config import SAMPLE_RATE
from streamproc.metrics import EPS, lsd, si_sdr

from .common import write_json

LEAD_PROGRAM = 40  # violin


# ------------------------------------------------------------------ clips

VOICES = ("top", "inner")  # the violin's voice in a clip: the work's melody, or an inner voice


def _draw_duet(work, voice: str, spq: float, shift: int, rng: np.random.Generator):
    """(violin, piano) notes in seconds of ``work`` with the violin on ``voice``, or None when the
    work has no such voice. ``top``: the melody over the accompaniment (in the violin's range);
    ``inner``: ``models.arrange``'s inner voice (a middle part, or a tune with chord tones voiced
    above and below it), without a doubling, so it differs from ``top`` only in the voicing."""
    from models.arrange import arrange

    if voice == "top":  # moved into the violin's range after the excerpt is cut (render_clip)
        return work.melody * [spq, spq, 1] + [0, 0, shift], work.accomp * [spq, spq, 1] + [0, 0, shift]
    duet = arrange(work, "inner", LEAD_PROGRAM, rng, shift)
    if duet.role != "inner" or duet.doubling is not None or not len(duet.piano):
        return None
    return duet.violin * [spq, spq, 1], duet.piano * [spq, spq, 1]


def render_clip(works: list[str], seed: int, index: int, seconds: float, soundfont: str = "FluidR3_GM",
                voice: str = "top") -> tuple[np.ndarray, np.ndarray, dict]:
    """(mix, violin stem, info) of test-split clip ``index``; mirrors models.data's separate pairs
    of the first rounds: the violin on ``voice`` (``VOICES``), rendered with ``soundfont``. The
    default (FluidR3_GM, top) is the original set, draw for draw."""
    from models import render as R
    from models.arrange import voice_position
    from models.data import _apply, _excerpt, _fit_range, _level, _reverb, _with_velocity
    from models.split import is_test

    if voice not in VOICES:
        raise ValueError(f"unknown voice {voice!r} (choose from {', '.join(VOICES)})")
    rng = np.random.default_rng([seed, index, 7] if voice == "top" else [seed, index, 7, VOICES.index(voice)])
    for _ in range(200):
        rel = works[int(rng.integers(len(works)))]
        assert is_test(rel), rel
        work = R.load_work(rel)
        if work is None or len(work.melody) < 4 or len(work.accomp) == 0:
            continue
        qpm = work.qpm * float(rng.uniform(0.8, 1.25))
        spq = 60.0 / qpm
        shift = int(rng.integers(-5, 7))
        parts = _draw_duet(work, voice, spq, shift, rng)
        if parts is None:
            continue
        mel, acc = parts
        total = max(mel[:, 1].max(), acc[:, 1].max())
        if total < seconds:
            continue
        onsets = mel[:, 0][mel[:, 0] <= total - seconds]
        t0 = float(onsets[int(rng.integers(len(onsets)))]) if len(onsets) else 0.0
        mel, acc = _excerpt(mel, t0, seconds), _excerpt(acc, t0, seconds)
        # the violin must play for at least half the clip
        if len(mel) == 0 or np.sum(mel[:, 1] - mel[:, 0]) < 0.5 * seconds or len(acc) == 0:
            continue
        break
    else:
        raise RuntimeError("no usable test-split work in 200 draws")
    n = int(round(seconds * R.SAMPLE_RATE))
    synth = R.renderer(R.soundfont_path(soundfont))
    vbase = int(rng.integers(55, 120))
    prog_a = int(rng.choice(R.PIANO_FAMILY))
    if voice == "top":
        mel = _fit_range(mel, *R.PROGRAM_RANGE[LEAD_PROGRAM])
    fx = _reverb(rng)
    lead = _apply(fx, synth.render(_with_velocity(mel, vbase, rng), LEAD_PROGRAM, n))
    back = synth.render(_with_velocity(acc, vbase - int(rng.integers(0, 25)), rng), prog_a, n)
    acc_db = float(rng.uniform(-9.0, 3.0))
    back = _apply(fx, back) * 10.0 ** (acc_db / 20.0)
    g = _level(lead + back, rng)
    lead, back = (lead * g).astype(np.float64), (back * g).astype(np.float64)
    info = {"index": index, "work": rel, "soundfont": R.soundfont_name(R.soundfont_path(soundfont)),
            "programs": [LEAD_PROGRAM, prog_a], "voice": voice,
            "qpm": round(qpm, 2), "transpose": shift, "t0": round(t0, 3), "reverb": fx is not None,
            "accomp_db": round(acc_db, 2), **voice_position(mel, acc)}
    return lead + back, lead, info


def oracle_irm(mix: np.ndarray, violin: np.ndarray) -> np.ndarray:
    from streamproc import dsp
    from streamproc.config import DEFAULT

    V = dsp.stft(violin, DEFAULT)
    P = dsp.stft(mix - violin, DEFAULT)
    M = dsp.stft(mix, DEFAULT)
    mask = np.abs(V) / np.maximum(np.abs(V) + np.abs(P), EPS)
    return dsp.istft(M * mask, DEFAULT, length=len(mix))


# ------------------------------------------------------------------ feature-level check

def image_l1(model_path: str, data: str) -> dict:
    """Mean L1 (image units, [-1, 1] range) of model output vs target on tiled 64-frame windows."""
    from models.data import PairedFrames
    from streamproc.onnx_model import load_model

    m = load_model(model_path, task="separate")
    ds = PairedFrames(data, allow_test=True)
    if ds.manifest.get("split") != "test":
        raise SystemExit(f"error: {data} is not a test-split set")
    width = m.context_frames + m.new_frames + m.lookahead_frames if hasattr(m, "context_frames") else 64
    tot_model = tot_input = 0.0
    count = 0
    for x, y in zip(ds.xs, ds.ys):
        for s in range(0, x.shape[1] - width + 1, width):
            out = m.run(x[:, s:s + width])
            tot_model += float(np.abs(out - y[:, s:s + width]).mean())
            tot_input += float(np.abs(x[:, s:s + width] - y[:, s:s + width]).mean())
            count += 1
    return {"data": data, "windows": count, "examples": len(ds.xs), "works": len(ds.manifest["works"]),
            "soundfonts": ds.manifest["soundfonts"], "l1_model": round(tot_model / count, 5),
            "l1_input": round(tot_input / count, 5)}


# ------------------------------------------------------------------ main

def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.separate_eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="separate-task ONNX model")
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--recons", default="mask,gla")
    ap.add_argument("--data", help="test-split set from python -m models.data --split test (image L1)")
    a = ap.parse_args(argv)

    import streamproc
    from models.render import corpus_works

    if not Path(a.model).is_file():
        print(f"error: model file not found: {a.model}", file=sys.stderr)
        return 2
    recons = [r for r in a.recons.split(",") if r]
    procs = {r: streamproc.Processor(task="separate", recon=r, model=a.model) for r in recons}
    works = corpus_works("test")
    methods = recons + ["mixture", "oracle_irm", "stem_resynth_gla"]
    resynth = streamproc.Processor(task="resynth", recon="gla")
    rows = []
    t_proc = {r: 0.0 for r in recons}
    for i in range(a.clips):
        mix, violin, info = render_clip(works, a.seed, i, a.seconds)
        ests = {}
        for r in recons:
            t = time.perf_counter()
            ests[r] = np.asarray(procs[r](mix.astype(np.float32), SAMPLE_RATE, reset=True), np.float64)
            t_proc[r] += time.perf_counter() - t
            assert ests[r].shape == mix.shape
        ests["mixture"] = mix
        ests["oracle_irm"] = oracle_irm(mix, violin)
        ests["stem_resynth_gla"] = np.asarray(resynth(violin.astype(np.float32), SAMPLE_RATE, reset=True), np.float64)
        row = {**info}
        for k, e in ests.items():
            row[f"{k}_si_sdr"] = round(si_sdr(violin, e), 3)
            row[f"{k}_lsd"] = round(lsd(violin, e), 4)
        rows.append(row)
        print(f"clip {i:2d} {info['work'][:40]:40s} " + " ".join(
            f"{k}={row[f'{k}_si_sdr']:6.2f}" for k in methods), flush=True)

    summary = {}
    for k in methods:
        s = np.array([r[f"{k}_si_sdr"] for r in rows])
        d = np.array([r[f"{k}_lsd"] for r in rows])
        summary[k] = {"si_sdr_mean": round(float(s.mean()), 3), "si_sdr_median": round(float(np.median(s)), 3),
                      "si_sdr_std": round(float(s.std()), 3), "lsd_mean": round(float(d.mean()), 4),
                      "lsd_median": round(float(np.median(d)), 4)}
        if k != "mixture":
            imp = s - np.array([r["mixture_si_sdr"] for r in rows])
            summary[k]["si_sdri_mean"] = round(float(imp.mean()), 3)
            summary[k]["clips_better_than_mixture"] = int((imp > 0).sum())
    for r in recons:
        summary[r]["rtf"] = round(t_proc[r] / (a.clips * a.seconds), 4)

    print()
    print(f"separate, {a.clips} test-split clips of {a.seconds:g} s (FluidR3_GM, {len({r['work'] for r in rows})} works)")
    print(f"{'estimate':16s} {'SI-SDR mean':>11s} {'median':>7s} {'SI-SDRi':>8s} {'>mix':>5s} {'LSD mean':>9s} {'median':>7s}")
    for k in methods:
        s = summary[k]
        print(f"{k:16s} {s['si_sdr_mean']:11.2f} {s['si_sdr_median']:7.2f} {s.get('si_sdri_mean', 0.0):8.2f} "
              f"{s.get('clips_better_than_mixture', '-'):>5} {s['lsd_mean']:9.3f} {s['lsd_median']:7.3f}")
    payload = {"command": "python -m bench.separate_eval " + " ".join(argv if argv is not None else sys.argv[1:]),
               "model": a.model, "clips": a.clips, "seconds": a.seconds, "seed": a.seed,
               "lead_program": LEAD_PROGRAM, "summary": summary, "per_clip": rows}
    try:
        from streamproc.onnx_model import read_metadata

        md = read_metadata(a.model)
        payload["model_training"] = json.loads(md.get("training", "{}"))
        payload["model_training"].pop("works", None)
    except Exception:  # noqa: BLE001  (metadata is informational here)
        pass
    if a.data:
        payload["image_l1"] = image_l1(a.model, a.data)
        il = payload["image_l1"]
        print(f"image L1 on {a.data} ({il['windows']} windows): model {il['l1_model']:.4f}, input {il['l1_input']:.4f}")
    write_json("separate_eval", payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
