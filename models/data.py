"""Paired training data for the four tasks (plus the GAN-S restoration stage), cached on disk.

    python -m models.data --task separate --minutes 120 --out data/separate [--soundfont NAME]
                          [--seed N] [--split train|test] [--seconds 15] [--jobs 2]

Each example is an excerpt of a music21 corpus work rendered with FluidSynth at 16 kHz and
turned into feature images by the runtime's own DSP (``streamproc.dsp``), so training and
inference see identical features. Examples are written as ``ex_NNNNNN.npz`` (float32 ``x``
and ``y`` of shape (rows, frames) plus a JSON ``info`` string; no pickles) and a
``manifest.json``. Example ``i`` depends only on (seed, i), so a rerun skips existing files
and a larger ``--minutes`` extends a set without changing what is there.

Pairs: separate (violin + piano mix -> violin stem), superres (through 4 kHz -> original),
synth (harmonic blueprint -> violin), pitch (solo audio -> pitch map), restore (linear
magnitudes descaled from the mel -> true linear magnitudes; the GAN-S restoration net).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from streamproc.config import DEFAULT, SpectralConfig
from streamproc import dsp

from . import render as R
from .split import is_test

TASKS = ("separate", "superres", "synth", "pitch", "restore")

# pitch map layout: row r <-> MIDI pitch PITCH_MIN_MIDI + r / BINS_PER_SEMITONE (bin centres);
# value +1 where a MIDI note sounds at the frame centre, -1 elsewhere (the [-1, 1] image range)
PITCH_MIN_MIDI = 36.0
BINS_PER_SEMITONE = 2
N_PITCH_BINS = 128


def pitch_layout() -> dict:
    return {"pitch_min_midi": PITCH_MIN_MIDI, "bins_per_semitone": BINS_PER_SEMITONE,
            "n_pitch_bins": N_PITCH_BINS, "pitchmap_on": 1.0, "pitchmap_off": -1.0}


def task_rows(task: str, cfg: SpectralConfig = DEFAULT) -> tuple[int, int]:
    """(input rows, output rows) of the images of a task."""
    if task == "restore":
        return cfg.n_bins, cfg.n_bins
    if task == "pitch":
        return cfg.n_mels, N_PITCH_BINS
    return cfg.n_mels, cfg.n_mels


def output_kind(task: str) -> str:
    return {"pitch": "pitchmap", "restore": "linear"}.get(task, "mel")


def frame_centres(n_frames: int, cfg: SpectralConfig = DEFAULT) -> np.ndarray:
    """Sample index at the centre of each STFT frame (framing convention of streamproc.dsp)."""
    return np.arange(n_frames) * cfg.hop + cfg.hop - cfg.n_fft // 2


def pitch_map(notes: np.ndarray, n_frames: int, cfg: SpectralConfig = DEFAULT) -> np.ndarray:
    """notes (n, >=3): start_s, end_s, midi (fractional allowed) -> (N_PITCH_BINS, frames)."""
    out = np.full((N_PITCH_BINS, n_frames), -1.0, dtype=np.float32)
    centres = frame_centres(n_frames, cfg) / cfg.sample_rate
    for s, e, m in notes[:, :3]:
        b = int(round((m - PITCH_MIN_MIDI) * BINS_PER_SEMITONE))
        if 0 <= b < N_PITCH_BINS:
            out[b, (centres >= s) & (centres < e)] = 1.0
    return out


# ------------------------------------------------------------------ one example

def _fit_range(notes: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Shift by octaves until the notes sit inside [lo, hi] as far as possible."""
    notes = notes.copy()
    if not len(notes):
        return notes
    while notes[:, 2].min() < lo and notes[:, 2].max() + 12 <= hi:
        notes[:, 2] += 12
    while notes[:, 2].max() > hi and notes[:, 2].min() - 12 >= lo:
        notes[:, 2] -= 12
    return notes


def _excerpt(notes: np.ndarray, t0: float, seconds: float) -> np.ndarray:
    sel = notes[(notes[:, 1] > t0) & (notes[:, 0] < t0 + seconds)].copy()
    sel[:, 0] = np.maximum(sel[:, 0] - t0, 0.0)
    sel[:, 1] = np.minimum(sel[:, 1] - t0, seconds)
    return sel[sel[:, 1] > sel[:, 0] + 0.01]


def _with_velocity(notes: np.ndarray, base: int, rng: np.random.Generator) -> np.ndarray:
    vel = np.clip(base + rng.integers(-10, 11, len(notes)), 30, 127)
    return np.column_stack([notes, vel]).astype(np.float64)


def _reverb(rng: np.random.Generator):
    """A random room (or none), applied alike to every stem of one example."""
    if rng.random() < 0.4:
        return None
    import pedalboard

    return pedalboard.Reverb(room_size=float(rng.uniform(0.1, 0.8)), damping=float(rng.uniform(0.2, 0.8)),
                             wet_level=float(rng.uniform(0.05, 0.35)), dry_level=float(rng.uniform(0.7, 1.0)),
                             width=0.0)


def _apply(fx, x: np.ndarray) -> np.ndarray:
    if fx is None:
        return x
    fx.reset()
    return fx(x.astype(np.float32), R.SAMPLE_RATE, reset=True)


def _level(x: np.ndarray, rng: np.random.Generator) -> float:
    """Gain that puts the peak of x at a random level between -24 and -1 dBFS."""
    peak = float(np.max(np.abs(x))) if len(x) else 0.0
    return 0.0 if peak < 1e-6 else 10.0 ** (rng.uniform(-24.0, -1.0) / 20.0) / peak


def make_example(task: str, works: list[str], soundfonts: list[Path], seed: int, index: int,
                 seconds: float, cfg: SpectralConfig = DEFAULT) -> tuple[np.ndarray, np.ndarray, dict]:
    """Render example ``index`` of a set: (x, y, info). Deterministic in (seed, index)."""
    rng = np.random.default_rng([seed, index, TASKS.index(task)])
    for _ in range(50):
        rel = works[int(rng.integers(len(works)))]
        work = R.load_work(rel)
        if work is not None:
            break
    else:
        raise RuntimeError("no usable work found in 50 draws")
    if is_test(rel) and not getattr(make_example, "allow_test", False):
        raise RuntimeError(f"refusing test-split work {rel} for training data")
    qpm = work.qpm * float(rng.uniform(0.8, 1.25))            # tempo augmentation
    spq = 60.0 / qpm
    shift = int(rng.integers(-5, 7))                          # transposition
    mel = work.melody * [spq, spq, 1] + [0, 0, shift]
    acc = work.accomp * [spq, spq, 1] + [0, 0, shift]
    total = max(mel[:, 1].max(), acc[:, 1].max() if len(acc) else 0.0)
    onsets = mel[:, 0][mel[:, 0] <= max(0.0, total - seconds)]
    t0 = float(onsets[int(rng.integers(len(onsets)))]) if len(onsets) else 0.0
    mel, acc = _excerpt(mel, t0, seconds), _excerpt(acc, t0, seconds)
    n = int(round(seconds * R.SAMPLE_RATE))
    sf = soundfonts[int(rng.integers(len(soundfonts)))]
    synth = R.renderer(sf)
    vbase = int(rng.integers(55, 120))                        # velocity augmentation
    info = {"task": task, "index": index, "work": rel, "soundfont": R.soundfont_name(sf),
            "qpm": round(qpm, 2), "transpose": shift, "t0": round(t0, 3), "seconds": seconds}

    if task in ("separate", "superres", "restore"):
        solo = task != "separate" and rng.random() < 0.3
        prog_m = int(rng.choice(R.VIOLIN_FAMILY if task == "separate" or rng.random() < 0.7 else R.PIANO_FAMILY))
        prog_a = int(rng.choice(R.PIANO_FAMILY))
        lo, hi = R.PROGRAM_RANGE.get(prog_m, (36, 96))
        mel = _fit_range(mel, lo, hi)
        fx = _reverb(rng)
        lead = _apply(fx, synth.render(_with_velocity(mel, vbase, rng), prog_m, n))
        if solo:
            back = np.zeros(n, np.float32)
        else:
            back = synth.render(_with_velocity(acc, vbase - int(rng.integers(0, 25)), rng), prog_a, n)
            back = _apply(fx, back) * 10.0 ** (rng.uniform(-9.0, 3.0) / 20.0)
        mix = lead + back
        g = _level(mix, rng)                                  # gain augmentation
        info.update(programs=[prog_m] + ([] if solo else [prog_a]), reverb=fx is not None)
        if task == "separate":
            x, y = dsp.log_mel_features(mix * g, cfg), dsp.log_mel_features(lead * g, cfg)
        elif task == "superres":
            import soxr

            low = soxr.resample(soxr.resample(mix * g, R.SAMPLE_RATE, 4000, quality="HQ"),
                                4000, R.SAMPLE_RATE, quality="HQ")[:n]
            x, y = dsp.log_mel_features(low, cfg), dsp.log_mel_features(mix * g, cfg)
        else:
            mag = np.abs(dsp.stft(mix * g, cfg))
            melspec = dsp.mel_from_magnitude(mag, cfg)
            approx = dsp.descale(dsp.mel_from_features(dsp.features_from_mel(melspec, cfg), cfg), cfg)
            x, y = dsp.features_from_mel(approx, cfg).T, dsp.features_from_mel(mag, cfg).T
    elif task == "synth":
        prog = int(rng.choice(R.VIOLINS))
        mel = _fit_range(mel, *R.PROGRAM_RANGE[prog])
        notes = _with_velocity(mel, vbase, rng)
        nh = int(rng.integers(1, 7))                          # varied harmonic counts
        blue = R.harmonic_blueprint(notes, n, nh, float(rng.uniform(0.2, 0.8)), rng)
        violin = synth.render(notes, prog, n)
        lvl = 10.0 ** (rng.uniform(-24.0, -1.0) / 20.0)
        gb = lvl / max(float(np.abs(blue).max()), 1e-6)
        gv = lvl / max(float(np.abs(violin).max()), 1e-6)
        x, y = dsp.log_mel_features(blue * gb, cfg), dsp.log_mel_features(violin * gv, cfg)
        info.update(programs=[prog], harmonics=nh)
    elif task == "pitch":
        prog = int(rng.choice(R.VIOLIN_FAMILY + R.PIANO_FAMILY))
        lo, hi = R.PROGRAM_RANGE.get(prog, (40, 96))
        mel = _fit_range(mel, lo, hi)
        bend = float(rng.uniform(-50.0, 50.0)) if rng.random() < 0.5 else 0.0  # off-grid tuning
        fx = _reverb(rng)
        audio = _apply(fx, synth.render(_with_velocity(mel, vbase, rng), prog, n, bend_cents=bend))
        x = dsp.log_mel_features(audio * _level(audio, rng), cfg)
        notes = mel.copy()
        notes[:, 2] += bend / 100.0
        y = pitch_map(notes, x.shape[1], cfg)
        info.update(programs=[prog], reverb=fx is not None, bend_cents=round(bend, 2))
    else:
        raise ValueError(f"unknown task {task!r}")
    return x.astype(np.float32), y.astype(np.float32), info


# ------------------------------------------------------------------ a whole set

def _worker(args: tuple) -> tuple[int, dict]:
    task, works, soundfonts, seed, index, seconds, out, allow_test = args
    make_example.allow_test = allow_test
    x, y, info = make_example(task, works, soundfonts, seed, index, seconds)
    tmp = out / f".ex_{index:06d}.tmp.npz"
    np.savez(tmp, x=x, y=y, info=np.array(json.dumps(info)))
    os.replace(tmp, out / f"ex_{index:06d}.npz")
    return index, info


def build(task: str, minutes: float, out: Path, soundfonts: list[str] | None = None, seed: int = 0,
          split: str = "train", seconds: float = 15.0, jobs: int = 1, progress: bool = True) -> dict:
    """Render (or extend) a data set; returns its manifest."""
    from tqdm import tqdm

    if task not in TASKS:
        raise ValueError(f"unknown task {task!r} (choose from {', '.join(TASKS)})")
    if split not in ("train", "test"):
        raise ValueError("split must be 'train' or 'test'")
    if minutes <= 0 or seconds <= 0:
        raise ValueError("--minutes and --seconds must be positive")
    names = soundfonts or list(R.TRAINING_SOUNDFONTS)
    sfs = [R.soundfont_path(s) for s in names]
    for p in sfs:
        if not p.is_file():
            raise ValueError(f"soundfont not found: {p}")
        if split == "train" and R.soundfont_name(p) not in R.TRAINING_SOUNDFONTS:
            raise ValueError(f"soundfont {R.soundfont_name(p)} is reserved for evaluation; "
                             f"train only on {' / '.join(R.TRAINING_SOUNDFONTS)}")
    out.mkdir(parents=True, exist_ok=True)
    old = out / "manifest.json"
    if old.exists():
        m = json.loads(old.read_text())
        same = (m.get("task"), m.get("seed"), m.get("split"), m.get("seconds"), m.get("soundfonts"))
        if same != (task, seed, split, seconds, [R.soundfont_name(p) for p in sfs]):
            raise ValueError(f"{out} holds a different data set ({m.get('task')}, seed {m.get('seed')}, "
                             f"split {m.get('split')}); use another --out")
    works = R.corpus_works(split)
    n_ex = max(1, math.ceil(minutes * 60.0 / seconds))
    todo, infos = [], {}
    for i in range(n_ex):
        f = out / f"ex_{i:06d}.npz"
        try:
            with np.load(f, allow_pickle=False) as z:
                infos[i] = json.loads(str(z["info"]))
        except Exception:  # noqa: BLE001  (missing or damaged: render it (again))
            todo.append((task, works, sfs, seed, i, seconds, out, split == "test"))
    t = time.time()
    bar = tqdm(total=n_ex, initial=n_ex - len(todo), desc=f"render {task}", unit="ex", disable=not progress)
    if jobs > 1 and len(todo) > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(jobs) as pool:
            for i, info in pool.imap_unordered(_worker, todo):
                infos[i] = info
                bar.update()
    else:
        for a in todo:
            i, info = _worker(a)
            infos[i] = info
            bar.update()
    bar.close()
    rows_in, rows_out = task_rows(task)
    manifest = {
        "task": task, "seed": seed, "split": split, "seconds": seconds,
        "soundfonts": [R.soundfont_name(p) for p in sfs], "n_examples": n_ex,
        "minutes": round(n_ex * seconds / 60.0, 3),
        "works": sorted({infos[i]["work"] for i in infos}),
        "rows_in": rows_in, "rows_out": rows_out, "output_kind": output_kind(task),
        "spectral": DEFAULT.as_dict(), "render_seconds": round(time.time() - t, 2),
    }
    if task == "pitch":
        manifest.update(pitch_layout())
    old.write_text(json.dumps(manifest, indent=1))
    return manifest


# ------------------------------------------------------------------ reading a set back

class PairedFrames:
    """A rendered set held in memory; draws random fixed-width windows for training."""

    def __init__(self, root: str | Path, allow_test: bool = False) -> None:
        root = Path(root)
        mpath = root / "manifest.json"
        if not mpath.is_file():
            raise ValueError(f"{root} is not a data set (no manifest.json); render one with python -m models.data")
        self.manifest = json.loads(mpath.read_text())
        if self.manifest.get("split") != "train" and not allow_test:
            raise ValueError(f"{root} is test-split data; training uses the train split only")
        self.xs: list[np.ndarray] = []
        self.ys: list[np.ndarray] = []
        import zipfile

        for i in range(int(self.manifest["n_examples"])):
            f = root / f"ex_{i:06d}.npz"
            try:
                with np.load(f, allow_pickle=False) as z:
                    info = json.loads(str(z["info"]))
                    x = np.ascontiguousarray(z["x"], np.float32)
                    y = np.ascontiguousarray(z["y"], np.float32)
            except (OSError, zipfile.BadZipFile, KeyError, ValueError) as e:
                raise ValueError(f"{f} is missing or damaged ({type(e).__name__}); re-run python -m models.data "
                                 f"with the same arguments to render it again") from None
            if is_test(info["work"]) and not allow_test:
                raise ValueError(f"{root}: example {i} comes from test-split work {info['work']}")
            self.xs.append(x)
            self.ys.append(y)
        self.task = self.manifest["task"]
        self.rows_in, self.rows_out = self.xs[0].shape[0], self.ys[0].shape[0]
        lens = np.array([x.shape[1] for x in self.xs], dtype=np.float64)
        self.weights = lens / lens.sum()

    @property
    def minutes(self) -> float:
        return float(self.manifest["minutes"])

    def batch(self, rng: np.random.Generator, n: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """n random windows: (n, 1, rows_in, width), (n, 1, rows_out, width); short examples are
        padded with the image floor (-1, silence)."""
        xb = np.full((n, 1, self.rows_in, width), -1.0, np.float32)
        yb = np.full((n, 1, self.rows_out, width), -1.0, np.float32)
        for k in range(n):
            i = int(rng.choice(len(self.xs), p=self.weights))
            T = self.xs[i].shape[1]
            s = int(rng.integers(0, max(1, T - width + 1)))
            w = min(width, T - s)
            xb[k, 0, :, :w] = self.xs[i][:, s:s + w]
            yb[k, 0, :, :w] = self.ys[i][:, s:s + w]
        return xb, yb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.data", description=__doc__.split("\n\n")[0])
    ap.add_argument("--task", required=True, choices=TASKS)
    ap.add_argument("--minutes", type=float, required=True, help="audio to render, in minutes")
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--soundfont", action="append", help="FluidR3_GM, TimGM6mb or an .sf2 path (repeatable; "
                    "default both training soundfonts)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", choices=("train", "test"), default="train")
    ap.add_argument("--seconds", type=float, default=15.0, help="length of one example")
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    a = ap.parse_args(argv)
    try:
        m = build(a.task, a.minutes, a.out, a.soundfont, a.seed, a.split, a.seconds, a.jobs)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{m['n_examples']} examples, {m['minutes']} min, {len(m['works'])} works -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
