"""Audio + mel training clips for the WaveNet vocoder, cached on disk.

    python -m models.wavenet_data --minutes 30 --out data/vocoder [--seed 0] [--seconds 10] [--jobs 2]

The task sets of ``models.data`` store feature images only; a vocoder needs the waveform
with its mel. Each clip is one train-split corpus melody rendered solo (violin family 60 %,
piano family 40 %) with a training soundfont, optional room, random level, plus its
``streamproc.dsp.log_mel_features`` (the runtime's own features). Clip i depends only on
(seed, i); files are ``clip_NNNNNN.npz`` (float32 ``audio``, float32 ``mel`` (n_mels, frames),
JSON ``info``; no pickles) and a ``manifest.json``.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import zipfile
from pathlib import Path

import numpy as np

from streamproc import dsp
from streamproc.config import DEFAULT

from . import render as R
from .data import _apply, _excerpt, _fit_range, _level, _reverb, _with_velocity
from .split import is_test


def make_clip(works: list[str], soundfonts: list[Path], seed: int, index: int,
              seconds: float) -> tuple[np.ndarray, np.ndarray, dict]:
    """Render clip ``index``: (audio float32 at 16 kHz, mel (n_mels, frames), info)."""
    rng = np.random.default_rng([seed, index, 77])
    for _ in range(50):
        rel = works[int(rng.integers(len(works)))]
        work = R.load_work(rel)
        if work is not None:
            break
    else:
        raise RuntimeError("no usable work found in 50 draws")
    if is_test(rel):
        raise RuntimeError(f"refusing test-split work {rel} for training data")
    qpm = work.qpm * float(rng.uniform(0.8, 1.25))
    spq = 60.0 / qpm
    shift = int(rng.integers(-5, 7))
    mel_notes = work.melody * [spq, spq, 1] + [0, 0, shift]
    total = float(mel_notes[:, 1].max())
    onsets = mel_notes[:, 0][mel_notes[:, 0] <= max(0.0, total - seconds)]
    t0 = float(onsets[int(rng.integers(len(onsets)))]) if len(onsets) else 0.0
    notes = _excerpt(mel_notes, t0, seconds)
    n = int(round(seconds * R.SAMPLE_RATE))
    sf = soundfonts[int(rng.integers(len(soundfonts)))]
    prog = int(rng.choice(R.VIOLIN_FAMILY if rng.random() < 0.6 else R.PIANO_FAMILY))
    lo, hi = R.PROGRAM_RANGE.get(prog, (36, 96))
    notes = _fit_range(notes, lo, hi)
    fx = _reverb(rng)
    audio = _apply(fx, R.renderer(sf).render(_with_velocity(notes, int(rng.integers(55, 120)), rng), prog, n))
    audio = (audio * _level(audio, rng)).astype(np.float32)
    mel = dsp.log_mel_features(audio, DEFAULT).astype(np.float32)
    info = {"index": index, "work": rel, "soundfont": R.soundfont_name(sf), "program": prog,
            "qpm": round(qpm, 2), "transpose": shift, "t0": round(t0, 3), "seconds": seconds,
            "reverb": fx is not None}
    return audio, mel, info


def _worker(a: tuple) -> tuple[int, dict]:
    works, sfs, seed, i, seconds, out = a
    audio, mel, info = make_clip(works, sfs, seed, i, seconds)
    tmp = out / f".clip_{i:06d}.tmp.npz"
    np.savez(tmp, audio=audio, mel=mel, info=np.array(json.dumps(info)))
    os.replace(tmp, out / f"clip_{i:06d}.npz")
    return i, info


def build(minutes: float, out: Path, seed: int = 0, seconds: float = 10.0, jobs: int = 1,
          soundfonts: list[str] | None = None) -> dict:
    """Render (or extend) a clip set; returns its manifest."""
    if minutes <= 0 or seconds <= 0:
        raise ValueError("--minutes and --seconds must be positive")
    names = soundfonts or list(R.TRAINING_SOUNDFONTS)
    if any(R.soundfont_name(R.soundfont_path(s)) not in R.TRAINING_SOUNDFONTS for s in names):
        raise ValueError(f"train only on {' / '.join(R.TRAINING_SOUNDFONTS)}")
    sfs = [R.soundfont_path(s) for s in names]
    out.mkdir(parents=True, exist_ok=True)
    mpath = out / "manifest.json"
    if mpath.exists():
        m = json.loads(mpath.read_text())
        if (m.get("seed"), m.get("seconds"), m.get("soundfonts")) != (seed, seconds, [R.soundfont_name(p) for p in sfs]):
            raise ValueError(f"{out} holds a different clip set; use another --out")
    works = R.corpus_works("train")
    n = max(1, math.ceil(minutes * 60.0 / seconds))
    infos, todo = {}, []
    for i in range(n):
        try:
            with np.load(out / f"clip_{i:06d}.npz", allow_pickle=False) as z:
                infos[i] = json.loads(str(z["info"]))
        except Exception:  # noqa: BLE001  (missing or damaged: render it (again))
            todo.append((works, sfs, seed, i, seconds, out))
    if jobs > 1 and len(todo) > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(jobs) as pool:
            infos.update(dict(pool.imap_unordered(_worker, todo)))
    else:
        infos.update(dict(map(_worker, todo)))
    manifest = {"kind": "vocoder-clips", "seed": seed, "split": "train", "seconds": seconds,
                "soundfonts": [R.soundfont_name(p) for p in sfs], "n_examples": n,
                "minutes": round(n * seconds / 60.0, 3), "works": sorted({v["work"] for v in infos.values()}),
                "spectral": DEFAULT.as_dict()}
    mpath.write_text(json.dumps(manifest, indent=1))
    return manifest


class AudioClips:
    """A clip set in memory; draws teacher-forcing segments (audio + the mel frames they need)."""

    def __init__(self, root: str | Path) -> None:
        root = Path(root)
        mpath = root / "manifest.json"
        if not mpath.is_file():
            raise ValueError(f"{root} is not a vocoder clip set; render one with python -m models.wavenet_data")
        self.manifest = json.loads(mpath.read_text())
        if self.manifest.get("kind") != "vocoder-clips" or self.manifest.get("split") != "train":
            raise ValueError(f"{root} is not a train-split vocoder clip set")
        self.audio, self.mel = [], []
        for i in range(int(self.manifest["n_examples"])):
            f = root / f"clip_{i:06d}.npz"
            try:
                with np.load(f, allow_pickle=False) as z:
                    info = json.loads(str(z["info"]))
                    self.audio.append(np.ascontiguousarray(z["audio"], np.float32))
                    self.mel.append(np.ascontiguousarray(z["mel"].T, np.float32))  # (frames, n_mels)
            except (OSError, zipfile.BadZipFile, KeyError, ValueError) as e:
                raise ValueError(f"{f} is missing or damaged ({type(e).__name__}); re-run "
                                 f"python -m models.wavenet_data with the same arguments") from None
            if is_test(info["work"]):
                raise ValueError(f"{root}: clip {i} comes from test-split work {info['work']}")
        lens = np.array([len(a) for a in self.audio], np.float64)
        self.weights = lens / lens.sum()

    def batch(self, rng: np.random.Generator, n: int, length: int, hop: int, offset: int):
        """n segments of ``length`` samples: (audio (n, length+1) incl. the sample before,
        mel (n, frames, n_mels) from the frame of the first sample on, absolute start samples).
        Every segment starts on a frame boundary, so segment sample j takes mel frame
        ``j // hop`` in all of them."""
        n_fr = (length + offset) // hop + 2
        audio = np.zeros((n, length + 1), np.float32)
        mel = np.full((n, n_fr, self.mel[0].shape[1]), -1.0, np.float32)
        starts = np.zeros(n, np.int64)
        for k in range(n):
            i = int(rng.choice(len(self.audio), p=self.weights))
            a, m = self.audio[i], self.mel[i]
            # start on a frame boundary (s + offset a multiple of hop): one frame index map per batch
            f_lo = (1 + offset + hop - 1) // hop
            f_hi = max(f_lo + 1, (len(a) - length + offset) // hop)
            f0 = int(rng.integers(f_lo, f_hi))
            s = f0 * hop - offset
            seg = a[s - 1: s - 1 + length + 1]
            audio[k, :len(seg)] = seg
            fr = m[f0: f0 + n_fr]
            mel[k, :len(fr)] = fr
            starts[k] = s
        return audio, mel, starts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m models.wavenet_data", description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--soundfont", action="append")
    a = ap.parse_args(argv)
    try:
        m = build(a.minutes, a.out, a.seed, a.seconds, a.jobs, a.soundfont)
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"{m['n_examples']} clips, {m['minutes']} min, {len(m['works'])} works -> {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
