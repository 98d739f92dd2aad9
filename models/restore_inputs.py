"""Restoration pairs from what the task models produce, not from descaled true mels.

At run time the GAN-S restoration net sees ``descale(task model's mel)``: a mel that the
separation, super-resolution or synthesis model got partly wrong. Trained only on descaled
*true* mels, it learns to sharpen harmonics that are there and makes a wrong estimate worse
(measured: it helped ``separate`` and hurt ``superres`` and ``synth``). Here each example
draws one of those tasks, renders that task's pair as audio (``models.data``), runs the task's
ONNX model over the input's features exactly as the engine's ``Chunker`` does at the
``default`` profile's chunking, descales its output as the engine's ``Descale`` does, and
pairs that with the true linear magnitudes of the task's target audio.

Used by ``python -m models.data --task restore --from-models separate,superres,synth``; the
models are the shipped ones (``streamproc/models_data``) unless a ``TASK=PATH`` is given. The
manifest records each model's file name and SHA-256, so a set is never extended with another
model's outputs.
"""
from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numpy as np

from streamproc import dsp
from streamproc.config import DEFAULT, SpectralConfig
from streamproc.features import audio_features, model_input_kind
from streamproc.frames import Frames
from streamproc.onnx_model import MODELS_DIR, load_model
from streamproc.spec import PROFILES
from streamproc.stages import Chunker, Descale

SOURCE_TASKS = ("separate", "superres", "synth")
CHUNK_PROFILE = "default"   # the chunking the task models run at where restore runs most


def parse_sources(text: str) -> dict[str, Path]:
    """``separate,superres=runs/x.onnx`` -> {task: model path} (a bare name: the shipped model)."""
    out: dict[str, Path] = {}
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        task, _, path = item.partition("=")
        if task not in SOURCE_TASKS:
            raise ValueError(f"--from-models: {task!r} is not one of {', '.join(SOURCE_TASKS)}")
        p = Path(path) if path else MODELS_DIR / f"{task}.onnx"
        if not p.is_file():
            raise ValueError(f"--from-models: no model file {p}")
        out[task] = p
    if not out:
        raise ValueError("--from-models names no task")
    return out


def parse_chunking(text: str) -> tuple[int, int]:
    """``NEW,LOOKAHEAD`` -> (frames per run, lookahead), e.g. ``1,0``: the ``live`` profile's
    zero-lookahead newest column."""
    try:
        new, lookahead = (int(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--from-models-chunking takes NEW,LOOKAHEAD (e.g. 1,0), got {text!r}") from None
    if new < 1 or lookahead < 0:
        raise ValueError("--from-models-chunking: NEW must be at least 1 and LOOKAHEAD at least 0")
    return new, lookahead


def describe(sources: dict[str, Path], chunking: tuple[int, int] | None = None) -> dict[str, dict[str, str]]:
    """What the manifest records of each source model: its file name, SHA-256 and the chunking
    it ran at (where not the ``default`` profile's)."""
    extra = {"chunking": f"{chunking[0]}+{chunking[1]}"} if chunking else {}
    return {t: {"file": p.name, "sha256": hashlib.sha256(p.read_bytes()).hexdigest(), **extra}
            for t, p in sorted(sources.items())}


@lru_cache(maxsize=None)
def _model(path: str, task: str):
    return load_model(path, task=task, threads=1)


def model_image(model, features: np.ndarray, new: int | None = None, lookahead: int | None = None) -> np.ndarray:
    """The model's translation of a whole (rows, T) feature image, as the engine's ``Chunker``
    computes it in streaming (silent context before, its lookahead filled with silence after)."""
    chunker = Chunker(model, new=new, lookahead=lookahead)
    t = features.shape[1]
    pad = chunker.latency_frames + chunker.new  # enough silence to flush every real frame
    cols = np.concatenate([features.T, np.full((pad, features.shape[0]), chunker.silence, np.float32)])
    stft = np.zeros((len(cols), 1), np.complex64)  # Chunker only carries it along
    out = chunker.process(Frames(stft=stft, features=cols.astype(np.float32)))
    pred = out.get("features")
    if len(pred) < t:
        raise RuntimeError(f"the chunker returned {len(pred)} of {t} frames")
    return np.ascontiguousarray(pred[:t].T)


def restore_pair(task: str, model_path: Path, x_audio: np.ndarray, y_audio: np.ndarray,
                 cfg: SpectralConfig = DEFAULT, chunking: tuple[int, int] | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """(restoration input, target) images of 513 rows: the descaled task-model output for
    ``x_audio`` and the true linear magnitudes of ``y_audio``, both as normalised dB.
    ``chunking`` (new, lookahead): the task model's, default the ``default`` profile's."""
    new, lookahead = chunking or PROFILES[CHUNK_PROFILE].chunking(task, "restore")
    model = _model(str(model_path), task)  # its own input image: a live model may read ``mel-asym``
    pred = model_image(model, audio_features(x_audio, cfg, model_input_kind(model)), new, lookahead)
    mag = Descale(cfg).process(Frames(stft=np.zeros((pred.shape[1], 1), np.complex64), features=pred.T))
    target = np.abs(dsp.stft(y_audio, cfg, n_frames=pred.shape[1]))
    return dsp.features_from_mel(mag.get("magnitude"), cfg).T, dsp.features_from_mel(target, cfg).T
