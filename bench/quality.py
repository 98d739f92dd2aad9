"""Quality report on the test split: every task's figures beside baselines on the same clips.

    python -m bench.quality [--tasks separate,superres,synth,pitch] [--clips 20] [--seconds 10]
                            [--profile default[,low-latency]] [--seed 0]
                            [--out bench/out/quality.json] [--quick]

Clips: ``bench.testsets`` (test-split works only, FluidR3_GM, rendered like each task's training
pairs; cached under bench/out/testsets/). Each model reconstruction in
``streamproc.tasks.RECONS[task]`` runs as ``Processor(task, recon, profile=P)`` with
``reset=True`` (time-aligned, same length); a recon whose model is missing is reported as
missing. Figures (``streamproc.metrics``; LSD on 16 kHz STFT magnitudes, n_fft 1024, hop 256):

- separate: SI-SDR and LSD of the violin estimate; beside the mixture itself, the CNN baseline
  (models_data/separate-cnn.onnx, every recon) and the ideal-ratio-mask oracle (input phase).
- superres: LSD over 0-8 kHz, the lower band 0-2 kHz and the upper band 2-8 kHz; beside the
  input itself (through 4 kHz and back with soxr HQ) and linear interpolation of the 4 kHz
  signal (the paper's baseline, ``np.interp``). The lower band includes soxr's transition
  band (about 1.8-2 kHz, empty in the input), which dominates the input's lower-band figure.
- synth: log-mel L1 (dB, 128 mel bands, floor -100 dB) to the violin rendering of the same
  notes, beside the harmonic input; melody accuracy = raw pitch accuracy (mir_eval, 50 cents)
  of pYIN (130-2100 Hz) on the output against the notes (also on the input and on the true
  violin rendering: the ceiling of this measure; FluidR3's violin reaches each note about
  50 ms after its MIDI onset, which the note-based reference does not model).
- pitch: raw pitch / raw chroma / overall accuracy (mir_eval.melody, 10 ms grid) of
  ``streamproc.pitch.track_pitch`` beside pYIN (librosa, 60-2640 Hz) and torchcrepe tiny and
  full (CPU, 16 kHz, hop 160, viterbi decoder, voiced where the 3-frame median of periodicity
  >= 0.21, torchcrepe's documented example threshold), each with its real-time factor
  (processing time / audio duration, after a warm-up call). Trackers that give a pitch guess
  on unvoiced frames (pYIN, crepe) pass it as a negative f0, as mir_eval expects, so raw pitch
  accuracy does not depend on their voicing decision; ours reports 0 there.
- GAN-S ablation: LSD of ``restore`` against ``gla`` for each audio task.

``track_pitch`` has no latency profile, so the pitch task runs under the default profile only.
Targets are reported beside the figures (PASS/MISS), never asserted. Prints compact tables
(mean and median over clips) and writes JSON (summary, targets, per-clip figures).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path
from typing import Callable

import numpy as np

from streamproc.tasks import model_tasks

from . import testsets
from .common import OUT, machine, write_json

AUDIO_TASKS = model_tasks("mel")  # the tasks whose model writes a mel image (reconstructed to audio)
LOW_BAND, HIGH_BAND = (0.0, 2000.0), (2000.0, 8000.0)
LSD_RANGE_DB = 80.0  # LSD80: both spectra floored 80 dB below the reference's loudest bin (streamproc.metrics)
SYNTH_PYIN = (130.0, 2100.0)
PITCH_PYIN = (60.0, 2640.0)    # the pitch map's range, MIDI 36..100
CREPE_THRESHOLD = 0.21
CREPE_MODELS = ("tiny", "full")
SR = testsets.SAMPLE_RATE


# ------------------------------------------------------------------ metric helpers

def linear_upsample(low: np.ndarray, n: int, low_rate: int = testsets.LOW_RATE, rate: int = SR) -> np.ndarray:
    """The paper's baseline: a low-rate signal brought to ``rate`` by linear interpolation (n samples)."""
    return np.interp(np.arange(n) / rate, np.arange(len(low)) / low_rate, np.asarray(low, np.float64))


def log_mel_l1_db(ref: np.ndarray, est: np.ndarray) -> float:
    """Mean absolute difference of the two log-mel images (the models' own features), in dB."""
    from streamproc import dsp
    from streamproc.config import DEFAULT as cfg

    a, b = dsp.log_mel_features(ref, cfg), dsp.log_mel_features(est, cfg)
    return float(np.mean(np.abs(a - b)) * (cfg.db_ceil - cfg.db_floor) / 2.0)


def melody_scores(ref_times: np.ndarray, ref_f0: np.ndarray, est_times: np.ndarray, est_f0: np.ndarray) -> dict:
    """mir_eval.melody raw pitch, raw chroma and overall accuracy (f0 <= 0: unvoiced; a negative
    f0 is an unvoiced frame's pitch guess)."""
    from mir_eval import melody

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mir_eval warns on all-unvoiced tracks
        rv, rc, ev, ec = melody.to_cent_voicing(np.asarray(ref_times, float), np.asarray(ref_f0, float),
                                                np.asarray(est_times, float), np.asarray(est_f0, float))
        return {"rpa": float(melody.raw_pitch_accuracy(rv, rc, ev, ec)),
                "rca": float(melody.raw_chroma_accuracy(rv, rc, ev, ec)),
                "oa": float(melody.overall_accuracy(rv, rc, ev, ec))}


def pyin_track(x: np.ndarray, fmin: float, fmax: float) -> tuple[np.ndarray, np.ndarray]:
    """(times, f0) every 10 ms by librosa's pYIN; unvoiced frames carry -(best guess)."""
    import librosa

    f0, voiced, _ = librosa.pyin(np.asarray(x, np.float32), fmin=fmin, fmax=fmax, sr=SR, frame_length=1024,
                                 hop_length=SR // 100, fill_na=None)
    return np.arange(len(f0)) * 0.01, np.where(voiced, f0, -f0)


def crepe_track(x: np.ndarray, model: str) -> tuple[np.ndarray, np.ndarray]:
    """(times, f0) every 10 ms by torchcrepe on CPU; unvoiced frames carry -(pitch)."""
    import types

    sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))  # only used for file loading
    import torch
    import torchcrepe

    with torch.no_grad():
        f0, per = torchcrepe.predict(torch.tensor(np.asarray(x, np.float32))[None], SR, hop_length=SR // 100,
                                     fmin=50.0, fmax=2006.0, model=model, decoder=torchcrepe.decode.viterbi,
                                     return_periodicity=True, batch_size=512, device="cpu", pad=True)
        per = torchcrepe.filter.median(per, 3)
    f0, per = f0[0].numpy().astype(np.float64), per[0].numpy()
    return np.arange(len(f0)) * 0.01, np.where(per >= CREPE_THRESHOLD, f0, -f0)


# ------------------------------------------------------------------ bookkeeping

class Scores:
    """Per-method, per-metric figures over clips, plus processing time for RTFs."""

    def __init__(self) -> None:
        self.values: dict[str, dict[str, list[float]]] = {}
        self.seconds: dict[str, float] = {}
        self.audio: dict[str, float] = {}
        self.per_clip: list[dict] = []

    def add(self, clip_row: dict, method: str, **metrics: float) -> None:
        for k, v in metrics.items():
            self.values.setdefault(method, {}).setdefault(k, []).append(float(v))
            clip_row.setdefault(method, {})[k] = round(float(v), 4)

    def timed(self, method: str, seconds: float, audio_s: float) -> None:
        self.seconds[method] = self.seconds.get(method, 0.0) + seconds
        self.audio[method] = self.audio.get(method, 0.0) + audio_s

    def summary(self) -> dict:
        out = {}
        for m, metrics in self.values.items():
            out[m] = {}
            for k, v in metrics.items():
                out[m][f"{k}_mean"] = round(float(np.mean(v)), 4)
                out[m][f"{k}_median"] = round(float(np.median(v)), 4)
                out[m]["n"] = len(v)
            if self.audio.get(m):
                out[m]["rtf"] = round(self.seconds[m] / self.audio[m], 4)
        return out


def processors(task: str, profile: str, model: str | Path | None = None) -> tuple[dict, dict]:
    """({recon: Processor}, {recon: why missing}) for every recon of a task."""
    from streamproc import Processor
    from streamproc.errors import UserError
    from streamproc.tasks import RECONS

    ok, missing = {}, {}
    for recon in RECONS[task]:
        try:
            p = Processor(task=task, recon=recon, model=model, profile=profile)
            p.latency_for(SR)  # builds every stage: a missing restoration model shows up here
            ok[recon] = p
        except (UserError, OSError, ValueError) as e:
            missing[recon] = str(e)
    return ok, missing


def _run(scores: Scores, name: str, fn, x: np.ndarray):
    t = time.perf_counter()
    y = fn(x)
    scores.timed(name, time.perf_counter() - t, len(x) / SR)
    return y


def _process(p) -> Callable[[np.ndarray], np.ndarray]:
    return lambda x: np.asarray(p(x.astype(np.float32), SR, reset=True), np.float64)


# ------------------------------------------------------------------ tasks

def _eval_audio(task: str, clips: list, profile: str, bar, baselines, score, extra: dict | None = None) -> dict:
    """Every recon of ``task`` (plus ``extra`` processors) and ``baselines(clip) -> {name: audio}``
    on each clip, scored by ``score(clip, estimate) -> {metric: value}``."""
    procs, missing = processors(task, profile)
    procs.update(extra or {})
    s = Scores()
    for c in clips:
        row = {"index": c.index, "work": c.info["work"]}
        ests = {r: _run(s, r, _process(p), c.input) for r, p in procs.items()}
        ests.update(baselines(c))
        for k, e in ests.items():
            s.add(row, k, **score(c, e))
        s.per_clip.append(row)
        bar.update()
    return {"scores": s, "missing": missing}


def eval_separate(clips: list, profile: str, bar) -> dict:
    from streamproc.metrics import lsd, si_sdr
    from streamproc.onnx_model import MODELS_DIR

    from .separate_eval import oracle_irm

    cnn_path = MODELS_DIR / "separate-cnn.onnx"
    cnn, cnn_missing = processors("separate", profile, cnn_path) if cnn_path.is_file() else ({}, {"*": "no file"})
    r = _eval_audio("separate", clips, profile, bar,
                    lambda c: {"mixture": c.input, "oracle_irm": oracle_irm(c.input, c.reference)},
                    lambda c, e: {"si_sdr": si_sdr(c.reference, e), "lsd": lsd(c.reference, e),
                                  "lsd80": lsd(c.reference, e, range_db=LSD_RANGE_DB)},
                    {f"cnn-{k}": p for k, p in cnn.items()})
    r["missing"].update({f"cnn-{k}": v for k, v in cnn_missing.items()})
    return r


def eval_superres(clips: list, profile: str, bar) -> dict:
    from streamproc.metrics import lsd

    return _eval_audio("superres", clips, profile, bar,
                       lambda c: {"input": c.input,
                                  "linear": linear_upsample(testsets.through_low_rate(c.reference), len(c.reference))},
                       lambda c, e: {"lsd": lsd(c.reference, e), "lsd_low": lsd(c.reference, e, LOW_BAND),
                                     "lsd_high": lsd(c.reference, e, HIGH_BAND),
                                     "lsd80": lsd(c.reference, e, range_db=LSD_RANGE_DB),
                                     "lsd80_low": lsd(c.reference, e, LOW_BAND, LSD_RANGE_DB),
                                     "lsd80_high": lsd(c.reference, e, HIGH_BAND, LSD_RANGE_DB)})


def eval_synth(clips: list, profile: str, bar) -> dict:
    """The violin rendering itself is scored too: its melody accuracy is pYIN's own ceiling."""
    from streamproc.metrics import lsd

    def score(c, e):
        mel = melody_scores(*testsets.f0_reference(c.notes, c.seconds), *pyin_track(e, *SYNTH_PYIN))
        return {"logmel_l1_db": log_mel_l1_db(c.reference, e), "lsd": lsd(c.reference, e),
                "lsd80": lsd(c.reference, e, range_db=LSD_RANGE_DB), "melody_rpa": mel["rpa"]}

    return _eval_audio("synth", clips, profile, bar,
                       lambda c: {"blueprint": c.input, "violin_reference": c.reference}, score)


def _trackers(profile: str | None = None) -> tuple[dict, dict]:
    """{name: f(audio) -> (times, f0)} for our tracker and the baselines, {name: why missing}.
    Under a live profile (not the offline one), only ours: the baselines do not change."""
    from streamproc.errors import UserError

    trackers, missing = {}, {}
    try:
        from streamproc.onnx_model import load_model
        from streamproc.pitch import track_pitch
        from streamproc.tasks import shipped_model

        path = shipped_model("pitch")
        if path is None:
            raise FileNotFoundError("no models_data/pitch.onnx")
        model = load_model(path, task="pitch")

        def ours(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            tr = track_pitch(x, SR, model=model, profile=profile)
            return tr.times, tr.f0

        trackers["streamproc"] = ours
    except (ImportError, OSError, ValueError, UserError) as e:
        missing["streamproc"] = str(e)
    from streamproc.tasks import OFFLINE_PROFILE

    if profile not in (None, OFFLINE_PROFILE):
        return trackers, missing
    trackers["pyin"] = lambda x: pyin_track(x, *PITCH_PYIN)
    try:
        import types

        sys.modules.setdefault("torchaudio", types.ModuleType("torchaudio"))
        import torchcrepe  # noqa: F401

        for m in CREPE_MODELS:
            trackers[f"crepe-{m}"] = lambda x, m=m: crepe_track(x, m)
    except ImportError as e:
        missing.update({f"crepe-{m}": str(e) for m in CREPE_MODELS})
    return trackers, missing


def eval_pitch(clips: list, profile: str, bar, crepe_full_clips: int | None = None) -> dict:
    """``crepe_full_clips``: score crepe-full on the first N clips only (about 6x slower than
    real time on 2 busy cores); the table's n column says on how many."""
    trackers, missing = _trackers(profile)
    if crepe_full_clips == 0 and trackers.pop("crepe-full", None):
        missing["crepe-full"] = "skipped (--crepe-full-clips 0)"
    s = Scores()
    rows = [{"index": c.index, "work": c.info["work"], "program": c.info["programs"][0],
             "bend_cents": c.info["bend_cents"]} for c in clips]
    refs = [testsets.f0_reference(c.notes, c.seconds) for c in clips]
    limit = {"crepe-full": crepe_full_clips}
    bar.total = sum(min(len(clips), limit.get(t) or len(clips)) for t in trackers)
    bar.refresh()
    for name, fn in trackers.items():  # tracker by tracker: crepe loads one model at a time
        fn(clips[0].input[:SR])          # warm-up (model load, JIT) outside the timing
        k = limit.get(name) or len(clips)
        for c, row, (rt, rf) in zip(clips[:k], rows[:k], refs[:k]):
            s.add(row, name, **melody_scores(rt, rf, *_run(s, name, fn, c.input)))
            bar.update()
    s.per_clip = rows
    return {"scores": s, "missing": missing}


EVALUATORS = {"separate": eval_separate, "superres": eval_superres, "synth": eval_synth, "pitch": eval_pitch}
COLUMNS = {  # metric key, header, format
    "separate": [("si_sdr", "SI-SDR dB", "{:7.2f}"), ("lsd", "LSD", "{:6.3f}"), ("lsd80", "LSD80", "{:6.3f}")],
    "superres": [("lsd", "LSD", "{:6.3f}"), ("lsd_low", "LSD 0-2k", "{:6.3f}"), ("lsd_high", "LSD 2-8k", "{:6.3f}"),
                 ("lsd80", "LSD80", "{:6.3f}"), ("lsd80_low", "LSD80 0-2k", "{:6.3f}"),
                 ("lsd80_high", "LSD80 2-8k", "{:6.3f}")],
    "synth": [("logmel_l1_db", "logmel L1 dB", "{:6.2f}"), ("lsd", "LSD", "{:6.3f}"), ("lsd80", "LSD80", "{:6.3f}"),
              ("melody_rpa", "melody RPA", "{:5.3f}")],
    "pitch": [("rpa", "RPA", "{:5.3f}"), ("rca", "RCA", "{:5.3f}"), ("oa", "OA", "{:5.3f}")],
}


# ------------------------------------------------------------------ targets

def _get(summary: dict, task: str, method: str, metric: str) -> float | None:
    return summary.get(task, {}).get("summary", {}).get(method, {}).get(f"{metric}_mean")


def targets(summary: dict) -> list[dict]:
    """The issue's targets, each with its figure(s) and PASS/MISS (None: not measurable here)."""
    out = []

    def check(text: str, ok_fn, *figs: float | None) -> None:
        ok = None if any(f is None for f in figs) else bool(ok_fn(*figs))
        out.append({"target": text, "figures": [None if f is None else round(f, 4) for f in figs], "pass": ok})

    from streamproc.tasks import RECONS

    if "separate" in summary:
        check("separate SI-SDR (mask) >= 10 dB", lambda a: a >= 10.0, _get(summary, "separate", "mask", "si_sdr"))
        for m in ("lsd", "lsd80"):
            check(f"separate {m.upper()} (restore) <= 0.45", lambda a: a <= 0.45, _get(summary, "separate", "restore", m))
    if "superres" in summary:
        for m in ("lsd", "lsd80"):
            for r in RECONS["superres"]:
                check(f"superres upper-band {m.upper()} ({r}) <= 0.55", lambda a: a <= 0.55,
                      _get(summary, "superres", r, f"{m}_high"))
            check(f"superres lower-band {m.upper()} (hybrid) <= input's", lambda a, b: a <= b,
                  _get(summary, "superres", "hybrid", f"{m}_low"), _get(summary, "superres", "input", f"{m}_low"))
    if "synth" in summary:
        for r in RECONS["synth"]:
            check(f"synth log-mel L1 ({r}) <= half the harmonic input's", lambda a, b: a <= 0.5 * b,
                  _get(summary, "synth", r, "logmel_l1_db"), _get(summary, "synth", "blueprint", "logmel_l1_db"))
            check(f"synth melody accuracy ({r}) >= 0.9", lambda a: a >= 0.9, _get(summary, "synth", r, "melody_rpa"))
    if "pitch" in summary:
        check("pitch RPA >= 0.85", lambda a: a >= 0.85, _get(summary, "pitch", "streamproc", "rpa"))
        check("pitch RPA above pYIN", lambda a, b: a > b, _get(summary, "pitch", "streamproc", "rpa"),
              _get(summary, "pitch", "pyin", "rpa"))
    for task in AUDIO_TASKS:
        if task in summary:
            for m in ("lsd", "lsd80"):
                check(f"{task} {m.upper()}: restore < gla (GAN-S ablation)", lambda a, b: a < b,
                      _get(summary, task, "restore", m), _get(summary, task, "gla", m))
    return out


# ------------------------------------------------------------------ printing

def print_table(task: str, result: dict, n_clips: int, seconds: float, profile: str) -> None:
    summ = result["summary"]
    works = len({r["work"] for r in result["per_clip"]})
    print(f"\n{task} [{profile} profile]: {n_clips} test-split clips of {seconds:g} s, {works} works (FluidR3_GM)")
    cols = COLUMNS[task]
    head = f"{'method':18s}" + "".join(f" {h + ' mean':>16s} {'median':>7s}" for _, h, _ in cols) + f" {'RTF':>7s} {'n':>3s}"
    print(head)
    for m, vals in summ.items():
        line = f"{m:18s}"
        for key, _, fmt in cols:
            for stat, width in (("mean", 16), ("median", 7)):
                v = vals.get(f"{key}_{stat}")
                line += " " + (fmt.format(v).rjust(width) if v is not None else "-".rjust(width))
        line += " " + (f"{vals['rtf']:7.3f}" if "rtf" in vals else f"{'-':>7s}") + f" {vals.get('n', 0):3d}"
        print(line)
    for m, why in result["missing"].items():
        print(f"{m:18s} missing: {why}")


def print_targets(rows: list[dict], profile: str) -> None:
    print(f"\ntargets [{profile} profile] (reported, not asserted)")
    for t in rows:
        verdict = {True: "PASS", False: "MISS", None: "n/a "}[t["pass"]]
        figs = ", ".join("-" if f is None else f"{f:g}" for f in t["figures"])
        print(f"  {verdict}  {t['target']:55s} {figs}")


def print_ablation(summary: dict, profile: str) -> None:
    rows = [(t, _get(summary, t, "restore", "lsd"), _get(summary, t, "gla", "lsd")) for t in AUDIO_TASKS if t in summary]
    if not rows:
        return
    print(f"\nGAN-S ablation [{profile} profile]: LSD mean, restore vs gla")
    for t, a, b in rows:
        fa = "missing" if a is None else f"{a:.3f}"
        fb = "missing" if b is None else f"{b:.3f}"
        print(f"  {t:10s} restore {fa:>8s}   gla {fb:>8s}")


# ------------------------------------------------------------------ main

def _model_info() -> dict:
    from streamproc.onnx_model import MODELS_DIR, read_metadata

    out = {}
    for p in sorted(MODELS_DIR.glob("*.onnx")):
        try:
            training = json.loads(read_metadata(p).get("training", "{}"))
        except Exception:  # noqa: BLE001  (metadata is informational here)
            training = {}
        training.pop("works", None)
        out[p.name] = {"bytes": p.stat().st_size, "mtime": time.strftime("%Y-%m-%d %H:%M", time.localtime(p.stat().st_mtime)),
                       "training": training}
    return out


def _save(path: Path, payload: dict) -> None:
    if path.parent.resolve() == OUT.resolve() and path.suffix == ".json":
        write_json(path.stem, payload)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"machine": machine(), **payload}, indent=2))
    tmp.replace(path)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    from tqdm import tqdm

    from streamproc.tasks import OFFLINE_PROFILE, PROFILES

    ap = argparse.ArgumentParser(prog="python -m bench.quality", description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", default=",".join(EVALUATORS), help="comma-separated, from " + ",".join(EVALUATORS))
    ap.add_argument("--clips", type=int, default=20, help="clips per task (default 20)")
    ap.add_argument("--seconds", type=float, default=10.0, help="clip length (default 10)")
    ap.add_argument("--profile", default=OFFLINE_PROFILE,
                    help=f"comma-separated: {','.join(PROFILES)} (default {OFFLINE_PROFILE}: what render uses)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=OUT / "quality.json")
    ap.add_argument("--crepe-full-clips", type=int, help="score torchcrepe full on the first N pitch clips "
                    "only (it runs at several times real time on CPU; default all)")
    ap.add_argument("--quick", action="store_true", help="smoke test: 2 clips of 5 s, no crepe-full")
    ap.add_argument("--update", action="store_true",
                    help="re-run only --tasks and merge them into the report already at --out (same clips "
                         "and seconds); targets are recomputed over the merged report")
    a = ap.parse_args(argv)
    tasks = [t for t in a.tasks.split(",") if t]
    profiles = [p for p in a.profile.split(",") if p]
    bad = [t for t in tasks if t not in EVALUATORS] + [p for p in profiles if p not in PROFILES]
    if bad or a.clips < 1 or a.seconds <= 0:
        ap.error(f"unknown task/profile {', '.join(bad)}" if bad else "--clips and --seconds must be positive")
    if a.quick:
        a.clips, a.seconds, a.crepe_full_clips = min(a.clips, 2), min(a.seconds, 5.0), 0

    sets = {t: testsets.clips(t, a.clips, a.seed, a.seconds) for t in tasks}
    payload = {"command": "python -m bench.quality " + " ".join(argv if argv is not None else sys.argv[1:]),
               "clips": a.clips, "seconds": a.seconds, "crepe_full_clips": a.crepe_full_clips, "seed": a.seed, "soundfont": testsets.SOUNDFONT,
               "testset_version": testsets.VERSION, "models": _model_info(), "profiles": {}}
    old = json.loads(a.out.read_text()) if a.update and a.out.is_file() else None
    if old is not None:
        if (old["clips"], old["seconds"], old["seed"]) != (a.clips, a.seconds, a.seed):
            ap.error(f"--update: {a.out} was made with other clips/seconds/seed")
        payload["command"] = old["command"] + " ; " + payload["command"]
        payload["crepe_full_clips"] = old.get("crepe_full_clips")
        payload["profiles"] = dict(old["profiles"])  # profiles not re-run stay as they were
        if "profile_note" in old:
            payload["profile_note"] = old["profile_note"]
    for profile in profiles:
        results = {}
        if old is not None and profile in old["profiles"]:
            results = {t: v for t, v in old["profiles"][profile]["tasks"].items() if t not in tasks}
        for task in tasks:
            with tqdm(total=len(sets[task]), desc=f"{task} [{profile}]", unit="clip", leave=False) as bar:
                kw = {"crepe_full_clips": a.crepe_full_clips} if task == "pitch" else {}
                r = EVALUATORS[task](sets[task], profile, bar, **kw)
            results[task] = {"summary": r["scores"].summary(), "missing": r["missing"], "per_clip": r["scores"].per_clip}
            print_table(task, results[task], a.clips, a.seconds, profile)
        results = {t: results[t] for t in EVALUATORS if t in results}
        done = {t: v for t, v in results.items() if "summary" in v}
        tg = targets(done)
        print_ablation(done, profile)
        print_targets(tg, profile)
        payload["profiles"][profile] = {"tasks": results, "targets": tg}
    _save(a.out, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
