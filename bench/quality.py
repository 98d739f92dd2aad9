"""Quality report on the test split: every task's figures beside baselines on the same clips.

    python -m bench.quality [--tasks separate,superres,synth,pitch] [--clips 20] [--seconds 10]
                            [--profile default[,low-latency]] [--seed 0]
                            [--soundfonts FluidR3_GM[,MuseScore_General_Lite]] [--separate-voices top[,inner]]
                            [--pitch-soundfonts FluidR3_GM,MuseScore_General_Lite]
                            [--peers pyin,crepe-tiny,...|none] [--pitch-decoders argmax,parabolic,...]
                            [--pitch-model NAME=PATH ...] [--pitch-chunk NEW,LOOKAHEAD] [--pitch-oversample 1,4]
                            [--out bench/out/quality.json] [--quick]

Clips: ``bench.testsets`` (test-split works only, FluidR3_GM unless said otherwise, rendered like
each task's training pairs; cached under bench/out/testsets/). ``--soundfonts`` renders the
separate, superres and synth sets again, draw for draw, with other soundfonts (one set each,
reported as ``TASK/SOUNDFONT``, seen or unseen by the task's model as its metadata says), so the
unseen-timbre figure stands beside the seen one on the same mixing; ``--separate-voices inner``
adds separate sets with the violin on an inner voice (``models.arrange``; piano notes above and
below it, no doubling; ``separate[/SOUNDFONT]/inner``). Each model reconstruction in
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
  notes, beside the harmonic input; melody accuracy ``melody_rpa`` = raw pitch accuracy
  (mir_eval, 50 cents, 10 ms grid) of pYIN (130-2100 Hz) on the output against the
  audio-aligned reference of the violin rendering (``bench.testsets``: ``Clip.f0``, labelled
  from the rendered stems by ``models.labels`` as the pitch training data is: voiced while
  a note is audible, from when it speaks through its release). ``melody_rpa_score`` is the
  same against the score's note times (``testsets.f0_reference``), the older figure, kept to
  compare: FluidR3's violin speaks about 45 ms after its MIDI onset and rings after the
  note-off, which that reference counts as errors. Both are scored on the input and on the
  true violin rendering too (pYIN's own ceiling on each reference).
- pitch: on audio-aligned clips (``bench.testsets.pitch_clip``: the training renderer's pitch
  pairs on test-split works, one soundfont per set, ``--pitch-soundfonts``; default the seen
  FluidR3_GM and the unseen MuseScore_General_Lite), reference f0 from the rendered audio
  (voiced while the note is audible in its own stem, following the bends). Raw pitch / raw
  chroma / overall accuracy (mir_eval.melody, 50 cents, 10 ms grid) of
  ``streamproc.pitch.track_pitch`` beside its peers (``bench.peers``: pYIN, torchcrepe tiny and
  full, PESTO, FCPE, basic-pitch; a peer not installed is reported missing with its install
  command), each with its real-time factor (processing time / audio duration on this machine,
  after a warm-up call). Trackers pass their pitch guess on unvoiced frames as a negative f0,
  as mir_eval expects, so raw pitch accuracy does not depend on voicing; ours reports its
  decoded pitch there too. Fine pitch: ``c20`` = share of voiced reference frames within 20
  cents, ``cents_med`` / ``cents_mean`` = median / mean absolute error (cents) over the voiced
  frames within 50 cents (the frames RPA counts). ``--pitch-decoders`` adds our model decoded
  by other sub-row decoders (``streamproc.pitchmap.DECODERS``) as ``streamproc[NAME]``;
  ``--pitch-model NAME=PATH`` another pitch model (a candidate) as NAME; ``--pitch-chunk 1,0``
  runs all of ours with that split of their window (1 new frame per run, no lookahead);
  ``--pitch-oversample 1,4`` adds ours run at that many passes per hop as ``streamproc[xK]``
  (``streamproc.pitch.frame_tracks``; the default is one).
- GAN-S ablation: LSD of ``restore`` against ``gla`` for each audio task.

The pitch task runs our model under each profile's chunking of it, one pass per hop
(``--pitch-oversample`` for more: ``streamproc.pitch.frame_tracks``).
Targets are reported beside the figures (PASS/MISS), never asserted. Prints compact tables
(mean and median over clips) and writes JSON (summary, targets, per-clip figures).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Callable

import numpy as np

from streamproc.tasks import model_tasks

from . import testsets
from .common import OUT, machine, write_json
from .peers import pyin_track
from .separate_eval import VOICES

AUDIO_TASKS = model_tasks("mel")  # the tasks whose model writes a mel image (reconstructed to audio)
LOW_BAND, HIGH_BAND = (0.0, 2000.0), (2000.0, 8000.0)
LSD_RANGE_DB = 80.0  # LSD80: both spectra floored 80 dB below the reference's loudest bin (streamproc.metrics)
SYNTH_PYIN = (130.0, 2100.0)
PITCH_SOUNDFONTS = "FluidR3_GM,MuseScore_General_Lite"  # seen in training, reserved for evaluation
UNSEEN_SOUNDFONT = "MuseScore_General_Lite"  # reserved for evaluation: no model trains on it
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


def pitch_scores(ref_times: np.ndarray, ref_f0: np.ndarray, est_times: np.ndarray, est_f0: np.ndarray) -> dict:
    """mir_eval's three accuracies plus the fine error: ``c20`` (share of voiced reference
    frames within 20 cents) and the median / mean absolute cents over those within 50."""
    from mir_eval import melody

    out = melody_scores(ref_times, ref_f0, est_times, est_f0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rv, rc, ev, ec = melody.to_cent_voicing(np.asarray(ref_times, float), np.asarray(ref_f0, float),
                                                np.asarray(est_times, float), np.asarray(est_f0, float))
    v = (rv > 0) & (ec > 0)  # ec: the guess's pitch in cents, voiced or not
    err = np.abs(rc - ec)[v]
    near = err[err <= 50.0]
    out["c20"] = float(np.sum(err <= 20.0) / max(int(np.sum(rv > 0)), 1))
    out["cents_med"] = float(np.median(near)) if len(near) else float("nan")
    out["cents_mean"] = float(np.mean(near)) if len(near) else float("nan")
    return out


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


def processors(task: str, profile: str, model: str | Path | None = None,
               recons: tuple[str, ...] | None = None) -> tuple[dict, dict]:
    """({recon: Processor}, {recon: why missing}) for every recon of a task (those in ``recons`` only, if given)."""
    from streamproc import Processor
    from streamproc.errors import UserError
    from streamproc.tasks import RECONS

    ok, missing = {}, {}
    for recon in RECONS[task]:
        if recons is not None and recon not in recons:
            continue
        try:
            # level off: the models on the clips as rendered, as every earlier figure (bench.level measures level)
            p = Processor(task=task, recon=recon, model=model, profile=profile, level="off")
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

def candidates(task: str, profile: str, models: tuple[tuple[str, str], ...],
               restores: tuple[tuple[str, str], ...] = (), recons: tuple[str, ...] | None = None) -> tuple[dict, dict]:
    """Other models of ``task`` ((name, path), e.g. a candidate beside the shipped one), every
    recon of each, and other restoration nets (``restores``) behind the shipped task model:
    ({NAME-recon: Processor}, {NAME-recon: why missing})."""
    from streamproc import Processor
    from streamproc.errors import UserError

    procs, missing = {}, {}
    for name, path in models:
        ok, why = processors(task, profile, path, recons)
        procs.update({f"{name}-{k}": v for k, v in ok.items()})
        missing.update({f"{name}-{k}": v for k, v in why.items()})
    for name, path in restores:
        try:
            procs[f"{name}-restore"] = Processor(task=task, recon="restore", profile=profile, restore_model=path,
                                                 level="off")
        except (UserError, OSError, ValueError) as e:
            missing[f"{name}-restore"] = str(e)
    return procs, missing


def _eval_audio(task: str, clips: list, profile: str, bar, baselines, score, extra: dict | None = None,
                models: tuple[tuple[str, str], ...] = (), restores: tuple[tuple[str, str], ...] = (),
                recons: tuple[str, ...] | None = None) -> dict:
    """Every recon of ``task`` (plus ``extra`` processors and the other ``models``) and
    ``baselines(clip) -> {name: audio}`` on each clip, scored by ``score(clip, estimate) ->
    {metric: value}``."""
    procs, missing = processors(task, profile, recons=recons)
    procs.update(extra or {})
    more, more_missing = candidates(task, profile, models, restores, recons)
    procs.update(more)
    missing.update(more_missing)
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


def eval_separate(clips: list, profile: str, bar, models: tuple[tuple[str, str], ...] = (),
                  restores: tuple[tuple[str, str], ...] = (), recons: tuple[str, ...] | None = None) -> dict:
    from streamproc.metrics import lsd, si_sdr
    from streamproc.onnx_model import MODELS_DIR

    from .separate_eval import oracle_irm

    cnn_path = MODELS_DIR / "separate-cnn.onnx"
    cnn = (("cnn", str(cnn_path)),) if cnn_path.is_file() else ()
    r = _eval_audio("separate", clips, profile, bar,
                    lambda c: {"mixture": c.input, "oracle_irm": oracle_irm(c.input, c.reference)},
                    lambda c, e: {"si_sdr": si_sdr(c.reference, e), "lsd": lsd(c.reference, e),
                                  "lsd80": lsd(c.reference, e, range_db=LSD_RANGE_DB)},
                    models=cnn + tuple(models), restores=restores, recons=recons)
    if not cnn:
        r["missing"]["cnn-*"] = "no file"
    return r


def eval_superres(clips: list, profile: str, bar, models: tuple[tuple[str, str], ...] = (),
                  restores: tuple[tuple[str, str], ...] = (), recons: tuple[str, ...] | None = None) -> dict:
    from streamproc.metrics import lsd

    return _eval_audio("superres", clips, profile, bar,
                       lambda c: {"input": c.input,
                                  "linear": linear_upsample(testsets.through_low_rate(c.reference), len(c.reference))},
                       lambda c, e: {"lsd": lsd(c.reference, e), "lsd_low": lsd(c.reference, e, LOW_BAND),
                                     "lsd_high": lsd(c.reference, e, HIGH_BAND),
                                     "lsd80": lsd(c.reference, e, range_db=LSD_RANGE_DB),
                                     "lsd80_low": lsd(c.reference, e, LOW_BAND, LSD_RANGE_DB),
                                     "lsd80_high": lsd(c.reference, e, HIGH_BAND, LSD_RANGE_DB)},
                       models=models, restores=restores, recons=recons)


def eval_synth(clips: list, profile: str, bar, models: tuple[tuple[str, str], ...] = (),
               restores: tuple[tuple[str, str], ...] = (), recons: tuple[str, ...] | None = None) -> dict:
    """The violin rendering itself is scored too: its melody accuracy is pYIN's own ceiling."""
    from streamproc.metrics import lsd

    def score(c, e):
        if c.f0 is None:
            raise ValueError(f"{c.name} has no audio-aligned f0 reference (bench.testsets.render_synth makes one)")
        est = pyin_track(e, *SYNTH_PYIN)
        audio = melody_scores(np.arange(len(c.f0)) * testsets.F0_HOP, c.f0, *est)
        score_ = melody_scores(*testsets.f0_reference(c.notes, c.seconds), *est)
        return {"logmel_l1_db": log_mel_l1_db(c.reference, e), "lsd": lsd(c.reference, e),
                "lsd80": lsd(c.reference, e, range_db=LSD_RANGE_DB), "melody_rpa": audio["rpa"],
                "melody_rpa_score": score_["rpa"]}

    return _eval_audio("synth", clips, profile, bar,
                       lambda c: {"blueprint": c.input, "violin_reference": c.reference}, score,
                       models=models, restores=restores, recons=recons)


class _Decoded:
    """Our pitch model, decoded by a named sub-row decoder (read by the engine's PitchDecode)."""

    def __init__(self, model, decoder: str) -> None:
        self._model, self.pitch_decoder = model, decoder

    def __getattr__(self, name: str):
        return getattr(self._model, name)


class _Rechunked:
    """A model reporting another split of its window (same width): ``new`` frames per run and
    ``lookahead`` frames of future, the rest context. Under the offline profile, which keeps a
    model's own chunking, it then runs that way (``--pitch-chunk 1,0``: no lookahead)."""

    def __init__(self, model, new: int, lookahead: int) -> None:
        width = model.context_frames + model.new_frames + model.lookahead_frames
        self._model, self.new_frames, self.lookahead_frames = model, new, lookahead
        self.context_frames = width - new - lookahead

    def __getattr__(self, name: str):
        return getattr(self._model, name)


@lru_cache(maxsize=None)
def _trackers(profile: str | None = None, peers: tuple[str, ...] | None = None,
              decoders: tuple[str, ...] = (), models: tuple[tuple[str, str], ...] = (),
              chunk: tuple[int, int] | None = None, oversamples: tuple[int, ...] = ()) -> tuple[dict, dict]:
    """{name: f(audio) -> (times, f0)} for our tracker (plus its decoder variants), our other
    pitch models ``models`` ((name, path), e.g. a candidate), all re-chunked to ``chunk`` =
    (new, lookahead) if given, and the peers (none for ``peers == ("none",)``), {name: why
    missing}; loaded once per process. Under a live profile (not the offline one), only ours:
    the peers do not change."""
    from streamproc.errors import UserError
    from streamproc.tasks import OFFLINE_PROFILE

    from . import peers as P

    trackers, missing = {}, {}
    try:
        from streamproc.onnx_model import load_model
        from streamproc.pitch import track_pitch
        from streamproc.tasks import PROFILES, shipped_model

        path = shipped_model("pitch", PROFILES[profile or OFFLINE_PROFILE])  # a profile's own where it ships
        if path is None:
            raise FileNotFoundError("no models_data/pitch.onnx")
        def loaded(p):
            m = load_model(p, task="pitch")
            return m if chunk is None else _Rechunked(m, *chunk)

        model = loaded(path)

        def ours(x: np.ndarray, m=model, k: int | None = None) -> tuple[np.ndarray, np.ndarray]:
            tr = track_pitch(x, SR, model=m, profile=profile, oversample=k)
            return tr.times, np.where(tr.f0 > 0, tr.f0, -tr.f0_guess)

        trackers["streamproc"] = ours
        for d in decoders:
            trackers[f"streamproc[{d}]"] = lambda x, m=_Decoded(model, d): ours(x, m)
        for k in oversamples:
            trackers[f"streamproc[x{k}]"] = lambda x, k=k: ours(x, model, k)
        for name, p in models:
            trackers[name] = lambda x, m=loaded(p): ours(x, m)
    except (ImportError, OSError, ValueError, UserError) as e:
        missing["streamproc"] = str(e)
    if profile not in (None, OFFLINE_PROFILE) or peers == ("none",):
        return trackers, missing
    ok, gone = P.available(list(peers) if peers else None)
    trackers.update(ok)
    missing.update(gone)
    return trackers, missing


def eval_pitch(clips: list, profile: str, bar, crepe_full_clips: int | None = None,
               peers: tuple[str, ...] | None = None, decoders: tuple[str, ...] = (),
               models: tuple[tuple[str, str], ...] = (), chunk: tuple[int, int] | None = None,
               oversamples: tuple[int, ...] = ()) -> dict:
    """Every tracker on audio-aligned clips (``Clip.f0`` the reference). ``crepe_full_clips``:
    score crepe-full on the first N clips only (several times slower than real time on 2 busy
    cores); the table's n column says on how many."""
    trackers, missing = _trackers(profile, peers, tuple(decoders), tuple(models), chunk, tuple(oversamples))
    trackers, missing = dict(trackers), dict(missing)
    if crepe_full_clips == 0 and trackers.pop("crepe-full", None):
        missing["crepe-full"] = "skipped (--crepe-full-clips 0)"
    s = Scores()
    rows = [{"index": c.index, "work": c.info["work"], "program": c.info["programs"][0],
             "bend_cents": c.info["bend_cents"], "voiced": round(float(np.mean(c.f0 > 0)), 3)} for c in clips]
    refs = [(np.arange(len(c.f0)) * testsets.F0_HOP, c.f0) for c in clips]
    limit = {"crepe-full": crepe_full_clips}
    bar.total = sum(min(len(clips), limit.get(t) or len(clips)) for t in trackers)
    bar.refresh()
    for name, fn in trackers.items():  # tracker by tracker: one model in memory at a time
        fn(clips[0].input[:SR])          # warm-up (model load, JIT) outside the timing
        k = limit.get(name) or len(clips)
        for c, row, (rt, rf) in zip(clips[:k], rows[:k], refs[:k]):
            s.add(row, name, **pitch_scores(rt, rf, *_run(s, name, fn, c.input)))
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
              ("melody_rpa", "melody RPA", "{:5.3f}"), ("melody_rpa_score", "RPA vs score", "{:5.3f}")],
    "pitch": [("rpa", "RPA", "{:5.3f}"), ("rca", "RCA", "{:5.3f}"), ("oa", "OA", "{:5.3f}"),
              ("c20", "<=20c", "{:5.3f}"), ("cents_med", "|c| med", "{:5.1f}"), ("cents_mean", "|c| mean", "{:5.1f}")],
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
    for key in [k for k in summary if k.split("/")[0] == "separate" and k != "separate"]:
        # the other sets (--soundfonts, --separate-voices): same mixing as the original, other timbre or voice
        if key.endswith("/inner"):
            check(f"{key} SI-SDR (mask) >= 11 dB", lambda a: a >= 11.0, _get(summary, key, "mask", "si_sdr"))
        else:
            check(f"{key} SI-SDR (mask) >= 13 dB", lambda a: a >= 13.0, _get(summary, key, "mask", "si_sdr"))
            check(f"{key}: drop from separate (FluidR3_GM) <= 1 dB", lambda a, b: a - b <= 1.0,
                  _get(summary, "separate", "mask", "si_sdr"), _get(summary, key, "mask", "si_sdr"))
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
            # audio-aligned melody_rpa; a report from before it existed (melody_rpa then was
            # score-aligned, and there is no melody_rpa_score) has no figure for this target
            audio_aligned = _get(summary, "synth", r, "melody_rpa_score") is not None
            check(f"synth melody accuracy, audio-aligned ({r}) >= 0.9", lambda a: a >= 0.9,
                  _get(summary, "synth", r, "melody_rpa") if audio_aligned else None)
    from .peers import PEERS

    for key in [k for k in summary if k.split("/")[0] == "pitch"]:
        check(f"{key} RPA >= 0.85", lambda a: a >= 0.85, _get(summary, key, "streamproc", "rpa"))
        for m in ("rpa", "oa"):
            peers = {p: _get(summary, key, p, m) for p in PEERS}
            best = max((p for p in peers if peers[p] is not None), key=lambda p: peers[p], default=None)
            check(f"{key} {m.upper()} above every peer (best: {best or 'none run'})", lambda a, b: a > b,
                  _get(summary, key, "streamproc", m), peers.get(best) if best else None)
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
    where = result.get("clips_from", testsets.SOUNDFONT)
    print(f"\n{task} [{profile} profile]: {n_clips} test-split clips of {seconds:g} s, {works} works ({where})")
    cols = COLUMNS[task.split("/")[0]]
    head = f"{'method':22s}" + "".join(f" {h + ' mean':>16s} {'median':>7s}" for _, h, _ in cols) + f" {'RTF':>7s} {'n':>3s}"
    print(head)
    for m, vals in summ.items():
        line = f"{m:22s}"
        for key, _, fmt in cols:
            for stat, width in (("mean", 16), ("median", 7)):
                v = vals.get(f"{key}_{stat}")
                line += " " + (fmt.format(v).rjust(width) if v is not None else "-".rjust(width))
        line += " " + (f"{vals['rtf']:7.3f}" if "rtf" in vals else f"{'-':>7s}") + f" {vals.get('n', 0):3d}"
        print(line)
    for m, why in result["missing"].items():
        print(f"{m:22s} missing: {why}")


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

    from streamproc.tasks import OFFLINE_PROFILE, PROFILES, RECONS

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
    ap.add_argument("--soundfonts", default=testsets.SOUNDFONT,
                    help=f"comma-separated soundfonts of the separate, superres and synth clip sets, one set each "
                         f"(default {testsets.SOUNDFONT}, the original sets; add {UNSEEN_SOUNDFONT} for an unseen timbre: "
                         "reported as TASK/SOUNDFONT)")
    ap.add_argument("--separate-voices", default="top",
                    help="comma-separated voices of the violin in the separate sets: top (the work's melody, the "
                         "original set), inner (an inner voice; reported as separate[/SOUNDFONT]/inner)")
    ap.add_argument("--pitch-soundfonts", default=PITCH_SOUNDFONTS,
                    help=f"comma-separated soundfonts of the pitch clip sets, one set each (default {PITCH_SOUNDFONTS}; "
                         "add TimGM6mb or sf_GMbank when a model held it out)")
    ap.add_argument("--peers", help="comma-separated peer pitch trackers (default all: "
                    "pyin,crepe-tiny,crepe-full,pesto,fcpe,basic-pitch; see bench/peers.txt to install them; none: ours only)")
    ap.add_argument("--pitch-decoders", default="", help="also score our pitch model decoded by these "
                    "sub-row decoders (comma-separated, from streamproc.pitchmap.DECODERS)")
    ap.add_argument("--pitch-oversample", default="", metavar="K,...",
                    help="also score our pitch model at K passes per hop (1, 2, 4, 8), as streamproc[xK]")
    ap.add_argument("--pitch-model", action="append", default=[], metavar="NAME=PATH",
                    help="also score this pitch model (repeatable), e.g. a candidate beside the shipped one")
    ap.add_argument("--model", action="append", default=[], metavar="TASK:NAME=PATH",
                    help="also score this model of an audio task (separate, superres, synth; repeatable) with "
                         "every recon, as NAME-RECON, e.g. a candidate beside the shipped one; restore:NAME=PATH "
                         "scores a restoration net behind each audio task's shipped model, as NAME-restore")
    ap.add_argument("--pitch-chunk", metavar="NEW,LOOKAHEAD",
                    help="run our pitch models with this split of their window (e.g. 1,0: no lookahead) "
                         "instead of their own; under the offline profile")
    ap.add_argument("--later-weight", metavar="W",
                    help="the later model run's share of each frame two runs predict, in [0, 1], or 'ramp' (a "
                         "linear crossfade), for every task instead of the profile's own (Profile.later_weight "
                         "and its per-task later_weights; how the values were chosen)")
    ap.add_argument("--restore-strength", type=float, metavar="S",
                    help="run the restoration net at this strength in every profile scored, instead of each "
                         "profile's own (Profile.restore_strength and its per-task restore_strengths; how the values were chosen)")
    ap.add_argument("--recons", help="comma-separated reconstructions to score for the audio tasks (default: every "
                    "one each task offers), e.g. mask to score a separation candidate quickly")
    ap.add_argument("--quick", action="store_true", help="smoke test: 2 clips of 5 s, no crepe-full")
    ap.add_argument("--update", action="store_true",
                    help="re-run only --tasks and merge them into the report already at --out (same clips "
                         "and seconds); targets are recomputed over the merged report")
    a = ap.parse_args(argv)
    from models import render as R
    from streamproc.pitchmap import DECODERS

    from .peers import PEERS

    tasks = [t for t in a.tasks.split(",") if t]
    profiles = [p for p in a.profile.split(",") if p]
    bad = [t for t in tasks if t not in EVALUATORS] + [p for p in profiles if p not in PROFILES]
    if bad or a.clips < 1 or a.seconds <= 0:
        ap.error(f"unknown task/profile {', '.join(bad)}" if bad else "--clips and --seconds must be positive")
    peers = tuple(p for p in (a.peers or "").split(",") if p) or None
    recons = tuple(r for r in (a.recons or "").split(",") if r) or None
    offered = {r for t in tasks if t in AUDIO_TASKS for r in RECONS[t]}
    if recons is not None and set(recons) - offered:
        ap.error(f"--recons {a.recons}: the audio tasks of --tasks offer only {', '.join(sorted(offered))}")
    pitch_models = []
    for spec in a.pitch_model:
        name, _, path = spec.partition("=")
        if not name or not path or not Path(path).is_file():
            ap.error(f"--pitch-model {spec}: expected NAME=PATH of an existing file")
        pitch_models.append((name, path))
    task_models: dict[str, list[tuple[str, str]]] = {}
    for spec in a.model:
        task_, _, rest = spec.partition(":")
        name, _, path = rest.partition("=")
        if task_ not in (*EVALUATORS, "restore") or task_ == "pitch" or not name or not Path(path).is_file():
            ap.error(f"--model {spec}: expected TASK:NAME=PATH with TASK one of separate, superres, synth, restore "
                     "and an existing file (pitch models: --pitch-model)")
        task_models.setdefault(task_, []).append((name, path))
    restore_models = tuple(task_models.pop("restore", ()))
    chunk = None
    if a.pitch_chunk:
        try:
            chunk = tuple(int(v) for v in a.pitch_chunk.split(","))
        except ValueError:
            chunk = ()
        if len(chunk) != 2 or chunk[0] < 1 or chunk[1] < 0:
            ap.error(f"--pitch-chunk {a.pitch_chunk}: expected NEW,LOOKAHEAD (NEW >= 1, LOOKAHEAD >= 0)")
    decoders = tuple(d for d in a.pitch_decoders.split(",") if d)
    try:
        oversamples = tuple(int(k) for k in a.pitch_oversample.split(",") if k)
    except ValueError:
        oversamples = (0,)
    if any(k not in (1, 2, 4, 8) for k in oversamples):
        ap.error(f"--pitch-oversample {a.pitch_oversample}: expected values among 1, 2, 4, 8")
    for name, known, what in [(p, PEERS, "peer") for p in peers or () if peers != ("none",)] + [(d, DECODERS, "pitch decoder") for d in decoders]:
        if name not in known:
            ap.error(f"unknown {what} {name!r} (choose from {', '.join(known)})")
    soundfonts = []
    for sf_name in (f for f in a.pitch_soundfonts.split(",") if f) if "pitch" in tasks else ():
        path = R.soundfont_path(sf_name)
        if not path.is_file():
            ap.error(f"soundfont not found: {path}")
        soundfonts.append(R.soundfont_name(path))
    if "pitch" in tasks and not soundfonts:
        ap.error("--pitch-soundfonts names no soundfont")
    audio_soundfonts = []  # canonical names (an alias would otherwise miss the cache and the seen/unseen check)
    for sf_name in (f for f in a.soundfonts.split(",") if f):
        path = R.soundfont_path(sf_name)
        if not path.is_file():
            ap.error(f"soundfont not found: {path}")
        audio_soundfonts.append(R.soundfont_name(path))
    voices = [v for v in a.separate_voices.split(",") if v]
    if not audio_soundfonts or not voices:
        ap.error("--soundfonts and --separate-voices must each name at least one")
    if set(voices) - set(VOICES):
        ap.error(f"--separate-voices {a.separate_voices}: choose from {', '.join(VOICES)}")
    if a.quick:
        a.clips, a.seconds, a.crepe_full_clips = min(a.clips, 2), min(a.seconds, 5.0), 0
    if a.later_weight is not None:
        w: float | None = None   # "ramp"
        if a.later_weight != "ramp":
            try:
                w = float(a.later_weight)
            except ValueError:
                ap.error(f"--later-weight must be 'ramp' or in [0, 1], got {a.later_weight}")
            if not 0.0 <= w <= 1.0:
                ap.error(f"--later-weight must be 'ramp' or in [0, 1], got {a.later_weight}")
        for name in profiles:  # as --restore-strength: this process's profiles only
            PROFILES[name] = dataclasses.replace(PROFILES[name], later_weight=w, later_weights=())
    if a.restore_strength is not None:
        if not 0.0 < a.restore_strength <= 1.0:
            ap.error(f"--restore-strength must be in (0, 1], got {a.restore_strength}")
        for name in profiles:  # this process's profiles only: the Processors built below read them
            PROFILES[name] = dataclasses.replace(PROFILES[name], restore_strength=a.restore_strength,
                                                 restore_strengths=())

    info = _model_info()
    seen = set(info.get("pitch.onnx", {}).get("training", {}).get("soundfonts") or ())
    sections = []  # (report key, task, clips, where the clips come from)
    for t in tasks:
        trained_on = set(info.get(f"{t}.onnx", {}).get("training", {}).get("soundfonts") or ())
        for sf_name in audio_soundfonts if t != "pitch" else ():
            for voice in voices if t == "separate" else ("top",):
                key = "/".join([t] + ([sf_name] if sf_name != testsets.SOUNDFONT else []) + ([voice] if voice != "top" else []))
                where = (f"{sf_name}, {'seen' if sf_name in trained_on else 'unseen'} by {t}.onnx"
                         + ("; the violin on an inner voice" if voice == "inner" else ""))
                sections.append((key, t, testsets.clips(t, a.clips, a.seed, a.seconds, soundfont=sf_name, voice=voice), where))
        for sf_name in soundfonts if t == "pitch" else ():
            where = f"{sf_name}, {'seen' if sf_name in seen else 'unseen'} by the pitch model; audio-aligned labels"
            sections.append((f"pitch/{sf_name}", t, testsets.pitch_clips(sf_name, a.clips, a.seed, a.seconds), where))
    payload = {"command": "python -m bench.quality " + " ".join(argv if argv is not None else sys.argv[1:]),
               "clips": a.clips, "seconds": a.seconds, "crepe_full_clips": a.crepe_full_clips, "seed": a.seed, "soundfont": testsets.SOUNDFONT,
               "soundfonts": audio_soundfonts, "separate_voices": voices,
               "pitch_soundfonts": soundfonts, "testset_version": testsets.VERSION, "models": info, "profiles": {}}
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
            results = {t: v for t, v in old["profiles"][profile]["tasks"].items() if t.split("/")[0] not in tasks}
        for key, task, clips, where in sections:
            with tqdm(total=len(clips), desc=f"{key} [{profile}]", unit="clip", leave=False) as bar:
                kw = ({"crepe_full_clips": a.crepe_full_clips, "peers": peers, "decoders": decoders,
                       "models": tuple(pitch_models), "chunk": chunk, "oversamples": oversamples}
                      if task == "pitch" else {"models": tuple(task_models.get(task, ())), "restores": restore_models,
                                               "recons": recons})
                r = EVALUATORS[task](clips, profile, bar, **kw)
            results[key] = {"summary": r["scores"].summary(), "missing": r["missing"], "per_clip": r["scores"].per_clip,
                            "clips_from": where}
            print_table(key, results[key], a.clips, a.seconds, profile)
        order = list(EVALUATORS)
        results = dict(sorted(results.items(), key=lambda kv: order.index(kv[0].split("/")[0])
                              if kv[0].split("/")[0] in order else len(order)))
        done = {t: v for t, v in results.items() if "summary" in v}
        tg = targets(done)
        print_ablation(done, profile)
        print_targets(tg, profile)
        payload["profiles"][profile] = {"tasks": results, "targets": tg}
    _save(a.out, payload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
