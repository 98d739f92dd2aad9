"""Seen and unseen timbres: separation (SI-SDR per soundfont and per violin voice),
super-resolution (LSD per soundfont and band) and synthesis (distance to each soundfont's violin).

    python -m bench.timbre_eval [--task separate|superres|synth] --model NAME=PATH [--model NAME=PATH ...]
                                [--soundfonts FluidR3_GM,TimGM6mb,MuseScore_General_Lite]
                                [--clips 24] [--seconds 10] [--seed 2026] [--recon mask|hybrid|gla]
                                [--profile quality] [--chunk NAME=NEW,LOOKAHEAD ...] [--name timbre_eval-TASK]

Clips: test-split works only, drawn by the training-data renderer itself
(``models.data.separate_clip``: the violin on any voice of the work, top, inner or bottom,
sometimes doubling the piano; violin-to-piano level -12..+6 dB; performed with vibrato and
dynamics; one room, one EQ and a noise floor per take), each rendered with ONE soundfont, so a
soundfont that a model never trained on measures that model on an unseen timbre. Clip *i* of a
soundfont depends only on (seed, i), and every model hears the same clips.

``superres`` clips are the training pairs' audio in the same way: a duet or solo through a room,
EQ and noise floor, its input made by one of the real-world low-rate paths (soxr at several
qualities, polyphase, plain low-pass and decimation, telephone band with mu-law or 8-bit
quantisation; cutoffs around 2 kHz).

``synth`` clips are the training pairs' too: a melody's sine-harmonic blueprint (1-6 harmonics)
and its rendering on a violin of the one soundfont, which the output is scored against: log-mel
L1 (dB) and LSD80, and melody agreement, the raw pitch accuracy of pYIN on the output against
pYIN on that violin (its voiced frames). A violin the model never trained on says how far its
timbre is from violins in general rather than from the ones it learnt.

Per model and soundfont, ``separate``: mean SI-SDR of the estimate against the true violin
stem, the mixture's (what doing nothing scores), the improvement, and the means by the
violin's voice, beside the ideal masks' (``oracle_mel``: the mel-band ratio mask as the
``mask`` recon applies it, the ceiling of any model behind it; ``oracle_irm``: the bin-resolution
ideal ratio mask, the ceiling of any magnitude mask; standard framing). ``superres``: LSD (16 kHz STFT, as ``bench.quality``) over 0-8 kHz, the lower
band 0-2 kHz and the upper band 2-8 kHz (and LSD80, both spectra floored 80 dB below the
reference's peak, per band), beside the input's. Profile ``quality`` (what ``render`` gives) unless ``--profile`` says
otherwise; ``--chunk NAME=NEW,LOOKAHEAD`` runs model NAME with that chunking of its window instead
of the profile's (``--chunk live=1,0``: one new frame per run, no lookahead, so each run's
rightmost column is the estimate for "now"), so one command compares a model at several
chunkings on the same clips (name it twice, ``--model a=X --model b=X --chunk b=1,0``). Prints a
table, writes bench/out/NAME.json and .md (``--name``, default timbre_eval-TASK).
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

from streamproc.metrics import si_sdr

from .peers import pyin_track
from .quality import HIGH_BAND, LOW_BAND, LSD_RANGE_DB, SYNTH_PYIN, log_mel_l1_db, melody_scores

from .common import OUT, write_json
from .oracle_masks import standard_oracles

ORACLES = ("oracle_mel", "oracle_irm")
SOUNDFONTS = "FluidR3_GM,TimGM6mb,MuseScore_General_Lite"


def _models(specs: list[str]) -> dict[str, str]:
    out = {}
    for s in specs:
        name, _, path = s.partition("=")
        if not path:
            name, path = Path(s).stem, s
        if not Path(path).is_file():
            raise SystemExit(f"error: model file not found: {path}")
        out[name] = path
    return out


def _chunks(specs: list[str], models: dict[str, str]) -> dict[str, tuple[int, int]]:
    """--chunk NAME=NEW,LOOKAHEAD -> {name: (new, lookahead)}; a one-line error on a bad one."""
    out = {}
    for s in specs:
        name, _, value = s.partition("=")
        if name not in models:
            raise SystemExit(f"error: --chunk {s}: no --model named {name!r}")
        try:
            new, lookahead = (int(v) for v in value.split(","))
        except ValueError:
            raise SystemExit(f"error: --chunk {s}: expected NAME=NEW,LOOKAHEAD (two integers)") from None
        if new < 1 or lookahead < 0:
            raise SystemExit(f"error: --chunk {s}: NEW must be >= 1 and LOOKAHEAD >= 0")
        out[name] = (new, lookahead)
    return out


def processor(task: str, recon: str, model: str, profile: str, chunk: tuple[int, int] | None = None):
    """A Processor on ``profile``; ``chunk`` = (new, lookahead) replaces the profile's chunking of
    the task model (every task and reconstruction override of it too)."""
    import streamproc

    proc = streamproc.Processor(task=task, recon=recon, model=model, profile=profile, level="off")  # as rendered
    if chunk is not None:  # before the first call: the engines are built from spec on demand
        prof = dataclasses.replace(proc.spec.profile, chunk_new=chunk[0], chunk_lookahead=chunk[1],
                                   task_chunks=(), recon_chunks=())
        proc.spec = dataclasses.replace(proc.spec, profile=prof, profile_name=f"{profile}+chunk{chunk[0]},{chunk[1]}")
    return proc


def _summary(rows: list[dict], key: str) -> dict:
    s = np.array([r[key] for r in rows])
    mix = np.array([r["mixture"] for r in rows])
    out = {"si_sdr": round(float(s.mean()), 3), "si_sdri": round(float((s - mix).mean()), 3), "clips": len(rows)}
    for role in ("top", "inner", "bottom"):
        sel = [r[key] for r in rows if r["role"] == role]
        out[f"si_sdr_{role}"] = round(float(np.mean(sel)), 3) if sel else None
        out[f"clips_{role}"] = len(sel)
    return out


def _lsd_row(ref: np.ndarray, est: np.ndarray) -> dict:
    from streamproc.metrics import lsd

    return {"lsd": round(lsd(ref, est), 4), "lsd_low": round(lsd(ref, est, LOW_BAND), 4),
            "lsd_high": round(lsd(ref, est, HIGH_BAND), 4),
            "lsd80_low": round(lsd(ref, est, LOW_BAND, LSD_RANGE_DB), 4),
            "lsd80_high": round(lsd(ref, est, HIGH_BAND, LSD_RANGE_DB), 4)}


def _means(rows: list[dict], key: str, metrics: tuple[str, ...]) -> dict:
    return {m: round(float(np.mean([r[key][m] for r in rows])), 4) for m in metrics} | {"clips": len(rows)}


def _fmt(v: float | None, spec: str = ".2f") -> str:
    return "-" if v is None else format(v, spec)


class Scoring:
    """One task's figures: a clip's row, a soundfont's summary, and the table of the summaries
    (columns: header, formatter of one summary). Registered in SCORINGS by task."""
    recon = ""
    baseline = "input"        # the row of doing nothing: the model input itself
    title = ""
    columns: tuple[tuple[str, Callable[[dict], str]], ...] = ()

    def row(self, x: np.ndarray, ref: np.ndarray, info: dict, ests: dict[str, np.ndarray]) -> tuple[dict, str]:
        raise NotImplementedError

    METRICS: tuple[str, ...] = ()  # per-clip figures of each estimate, averaged per soundfont

    def summary(self, rows: list[dict], models: list[str]) -> dict:
        return {"per_model": {k: _means(rows, k, self.METRICS) for k in models},
                self.baseline: _means(rows, self.baseline, self.METRICS)}

    def estimates(self, res: dict) -> list[tuple[str, dict]]:
        """(name, summary) rows of one soundfont's result, baselines first."""
        return [(self.baseline, res[self.baseline])] + list(res.get("oracles", {}).items()) + list(res["per_model"].items())


class SeparateScoring(Scoring):
    recon, baseline, title = "mask", "mixture", "SI-SDR dB"
    columns = (("SI-SDR dB", lambda s: _fmt(s["si_sdr"])), ("SI-SDRi dB", lambda s: _fmt(s.get("si_sdri"))),
               ("top", lambda s: _fmt(s["si_sdr_top"])), ("inner", lambda s: _fmt(s["si_sdr_inner"])),
               ("bottom", lambda s: _fmt(s["si_sdr_bottom"])),
               ("clips (top/inner/bottom)", lambda s: f"{s['clips_top']}/{s['clips_inner']}/{s['clips_bottom']}"))

    def row(self, x, ref, info, ests):
        row = {"role": info.get("role"), "doubling": info.get("doubling"),
               "violin_to_piano_db": info.get("violin_to_piano_db"), "mixture": round(si_sdr(ref, x), 3)}
        row.update({k: round(v, 3) for k, v in standard_oracles(x, ref).items()})
        row.update({k: round(si_sdr(ref, e), 3) for k, e in ests.items()})
        return row, f"{row['role']:6s} mix={row['mixture']:6.2f} " + " ".join(f"{k}={row[k]:6.2f}" for k in ests)

    def summary(self, rows, models):
        mixture = _summary(rows, "mixture")
        mixture["si_sdri"] = None
        return {"per_model": {k: _summary(rows, k) for k in models}, "mixture": mixture,
                "oracles": {k: _summary(rows, k) for k in ORACLES}}


class SuperresScoring(Scoring):
    recon, title = "hybrid", "LSD"
    METRICS = ("lsd", "lsd_low", "lsd_high", "lsd80_low", "lsd80_high")
    columns = tuple((h, (lambda m: lambda s: _fmt(s[m], ".3f"))(m)) for h, m in
                    zip(("LSD 0-8k", "LSD 0-2k", "LSD 2-8k", "LSD80 0-2k", "LSD80 2-8k"), METRICS))

    def row(self, x, ref, info, ests):
        row = {"low_rate": info.get("low_rate"), "input": _lsd_row(ref, x)} | {k: _lsd_row(ref, e) for k, e in ests.items()}
        return row, f"input high={row['input']['lsd_high']:.3f} " + " ".join(
            f"{k} high={row[k]['lsd_high']:.3f} low={row[k]['lsd_low']:.3f}" for k in ests)


class SynthScoring(Scoring):
    """The violin of each soundfont is the reference: how near the output comes to a violin the
    model heard in training (seen) or never heard (unseen), and whether it keeps that violin's
    pitch (pYIN on both; the input is the sine-harmonic blueprint of the same notes)."""
    recon, title = "gla", "log-mel L1 dB (as it is, and at the clip's best gain), LSD80, melody agreement"
    METRICS = ("logmel_l1_db", "logmel_l1_db_gain", "gain_db", "lsd80", "melody_rpa")
    columns = (("log-mel L1 dB", lambda s: _fmt(s["logmel_l1_db"])),
               ("at best gain", lambda s: _fmt(s.get("logmel_l1_db_gain"))),
               ("that gain dB", lambda s: _fmt(s.get("gain_db"), "+.1f")),
               ("LSD80", lambda s: _fmt(s["lsd80"], ".3f")),
               ("melody RPA vs the violin's pYIN", lambda s: _fmt(s["melody_rpa"], ".3f")))

    def row(self, x, ref, info, ests):
        track = pyin_track(ref, *SYNTH_PYIN)
        row = {"harmonics": info.get("harmonics"), "input": self._figures(ref, x, track)}
        row.update({k: self._figures(ref, e, track) for k, e in ests.items()})
        return row, " ".join(f"{k} L1={row[k]['logmel_l1_db']:5.2f} rpa={row[k]['melody_rpa']:.3f}" for k in ["input", *ests])

    @staticmethod
    def _figures(ref: np.ndarray, est: np.ndarray, track: tuple[np.ndarray, np.ndarray]) -> dict:
        from streamproc.metrics import lsd

        gain_l1, gain = best_gain_l1(ref, est)
        return {"logmel_l1_db": round(log_mel_l1_db(ref, est), 4), "logmel_l1_db_gain": round(gain_l1, 4),
                "gain_db": round(gain, 2), "lsd80": round(lsd(ref, est, range_db=LSD_RANGE_DB), 4),
                "melody_rpa": round(melody_scores(*track, *pyin_track(est, *SYNTH_PYIN))["rpa"], 4)}


def best_gain_l1(ref: np.ndarray, est: np.ndarray) -> tuple[float, float]:
    """(log-mel L1 dB, gain dB) of ``est`` at the one gain that brings it nearest ``ref``: the
    distance in timbre, level aside. The training pairs match the blueprint's and the violin's
    peaks, so a violin whose sustain sits nearer its peak than the training violins' reads as a
    level error of several dB over every pixel. Coarse 0.5 dB steps within 3 dB of the median
    pixel difference (and 0 dB: never further than as it is), then 0.1 dB steps around the best.
    The STFT is linear, so a gain scales the mel amplitudes: each step costs one log, not an STFT
    (the same figure as ``log_mel_l1_db`` of the scaled audio)."""
    from streamproc import dsp
    from streamproc.config import DEFAULT as cfg

    scale = (cfg.db_ceil - cfg.db_floor) / 2.0
    a = dsp.log_mel_features(ref, cfg)
    mel = dsp.mel_from_magnitude(np.abs(dsp.stft(est, cfg)), cfg)

    def l1(g: float) -> float:
        return float(np.mean(np.abs(a - dsp.features_from_mel(mel * 10.0 ** (g / 20.0), cfg).T)) * scale)

    near = a > a.max() - 60.0 / scale
    b = dsp.features_from_mel(mel, cfg).T
    start = float(np.median((a - b)[near]) * scale) if near.any() else 0.0

    best = min([0.0, *(start + np.arange(-3.0, 3.01, 0.5))], key=l1)
    best = min(best + np.arange(-0.4, 0.41, 0.1), key=l1)
    return l1(float(best)), float(best)


SCORINGS: dict[str, Scoring] = {"separate": SeparateScoring(), "superres": SuperresScoring(), "synth": SynthScoring()}


def markdown(payload: dict) -> str:
    """The result as a markdown table (for model cards and the README)."""
    sc = SCORINGS[payload["task"]]
    lines = [f"`{payload['command']}`", "",
             "| soundfont | estimate | " + " | ".join(h for h, _ in sc.columns) + " |",
             "|---|---|" + "---|" * len(sc.columns)]
    for sf_name, res in payload["soundfonts"].items():
        for k, s in sc.estimates(res):
            lines.append(f"| {sf_name} | {k} | " + " | ".join(f(s) for _, f in sc.columns) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.timbre_eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", choices=tuple(SCORINGS), default="separate")
    ap.add_argument("--model", action="append", required=True, help="NAME=PATH of an ONNX model of the task (repeatable)")
    ap.add_argument("--soundfonts", default=SOUNDFONTS)
    ap.add_argument("--clips", type=int, default=24)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--recon", help="default: mask (separate), hybrid (superres), gla (synth)")
    ap.add_argument("--profile", default="quality", help="latency profile (default quality: what render uses)")
    ap.add_argument("--chunk", action="append", default=[], metavar="NAME=NEW,LOOKAHEAD",
                    help="run model NAME with this chunking instead of the profile's (repeatable), e.g. live=1,0")
    ap.add_argument("--name", help="output file stem under bench/out (default timbre_eval-TASK)")
    a = ap.parse_args(argv)

    from models import render as R
    from models.data import audio_clip
    from models.render import corpus_works

    models = _models(a.model)
    sc = SCORINGS[a.task]
    recon = a.recon or sc.recon
    chunks = _chunks(a.chunk, models)
    procs = {k: processor(a.task, recon, p, a.profile, chunks.get(k)) for k, p in models.items()}
    works = corpus_works("test")
    result: dict = {}
    rtf = {k: 0.0 for k in models}
    for sf_name in [s for s in a.soundfonts.split(",") if s]:
        sf_path = R.soundfont_path(sf_name)
        rows = []
        for i in range(a.clips):
            x, ref, info = audio_clip(a.task, works, sf_path, a.seed, i, a.seconds)
            ests = {}
            for k, proc in procs.items():
                t = time.perf_counter()
                ests[k] = np.asarray(proc(x.astype(np.float32), R.SAMPLE_RATE, reset=True), np.float64)
                rtf[k] += time.perf_counter() - t
            row, line = sc.row(x, ref, info, ests)
            rows.append({"index": i, "work": info["work"]} | row)
            print(f"{sf_name:22s} clip {i:2d} {line}", flush=True)
        result[sf_name] = sc.summary(rows, list(models)) | {"per_clip": rows}
    n_audio = a.clips * a.seconds * len(result)
    print()
    print(f"{a.task} ({recon}, {a.profile} profile), {a.clips} test-split clips of {a.seconds:g} s per soundfont, {sc.title}")
    print(f"{'soundfont':22s} {'estimate':14s} " + " ".join(f"{h:>{max(len(h), 6)}s}" for h, _ in sc.columns))
    for sf_name, res in result.items():
        for k, s in sc.estimates(res):
            print(f"{sf_name:22s} {k:14s} " + " ".join(f"{f(s):>{max(len(h), 6)}s}" for h, f in sc.columns))
    payload = {"command": "python -m bench.timbre_eval " + " ".join(argv if argv is not None else sys.argv[1:]),
               "task": a.task, "models": models, "recon": recon, "profile": a.profile,
               "chunks": {k: list(v) for k, v in chunks.items()}, "clips": a.clips, "seconds": a.seconds, "seed": a.seed,
               "rtf": {k: round(v / n_audio, 4) for k, v in rtf.items()}, "soundfonts": result}
    name = a.name or f"timbre_eval-{a.task}"
    write_json(name, payload)
    md = OUT / f"{name}.md"
    md.write_text(markdown(payload))
    print(f"wrote {md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
