"""Reading and writing audio files, with every user mistake turned into a one-line UserError.

Writes go to a temporary file in the destination folder and are renamed into place, so a
failed run never leaves a partial output and never touches the input.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from .errors import UserError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3")
MIN_RATE, MAX_RATE = 4000, 192000
MAX_CHANNELS = 64


def check_input_path(path: str | Path, extensions: tuple[str, ...] = AUDIO_EXTENSIONS,
                     kind: str = "input") -> Path:
    p = Path(path)
    if not p.exists():
        raise UserError(f"{kind} file not found: {p}")
    if p.is_dir():
        raise UserError(f"{kind} is a directory, not a file: {p}")
    if p.suffix.lower() not in extensions:
        raise UserError(f"unsupported {kind} format {p.suffix or '(no extension)'!r} for {p} "
                        f"(use {', '.join(e[1:] for e in extensions)})")
    return p


def check_output_path(path: str | Path, inputs: list[Path], extensions: tuple[str, ...]) -> Path:
    p = Path(path)
    if p.suffix.lower() not in extensions:
        raise UserError(f"unsupported output format {p.suffix or '(no extension)'!r} for {p} "
                        f"(use {', '.join(e[1:] for e in extensions)})")
    if p.is_dir():
        raise UserError(f"output is a directory: {p}")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"output folder does not exist: {parent}")
    for src in inputs:
        if p.resolve() == src.resolve() or (p.exists() and os.path.samefile(p, src)):
            raise UserError(f"output {p} is the input file; choose another name")
    return p


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Returns (channels, samples) float64 and the sample rate. Rejects what we cannot process."""
    p = check_input_path(path)
    try:
        data, rate = sf.read(str(p), dtype="float64", always_2d=True)
    except Exception as exc:  # libsndfile's messages are specific but multi-line at times
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise UserError(f"cannot read {p} as audio: {reason}") from None
    x = data.T
    if x.shape[1] == 0:
        raise UserError(f"{p} contains no audio samples")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise UserError(f"{p}: sample rate {rate} Hz is outside the supported {MIN_RATE}-{MAX_RATE} Hz")
    if x.shape[0] > MAX_CHANNELS:
        raise UserError(f"{p} has {x.shape[0]} channels; at most {MAX_CHANNELS} are supported")
    bad = int((~np.isfinite(x)).sum())
    if bad:
        raise UserError(f"{p} contains {bad} NaN or infinite samples; fix the file (streamproc "
                        f"does not guess what they should be)")
    return x, int(rate)


def atomic_write(path: Path, write) -> None:
    """Calls write(tmp_path) then renames tmp_path to path; removes the temporary on failure."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent or ".")
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; the result should not be
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_audio(path: Path, x: np.ndarray, rate: int) -> None:
    """(channels, samples) float -> file; format from the extension (24-bit PCM for wav/flac)."""
    ext = path.suffix.lower()
    subtype = {".wav": "PCM_24", ".flac": "PCM_24", ".ogg": "VORBIS", ".mp3": "MPEG_LAYER_III"}[ext]
    fmt = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG", ".mp3": "MP3"}[ext]
    data = np.clip(np.asarray(x, dtype=np.float64).T, -1.0, 1.0)
    atomic_write(path, lambda tmp: sf.write(tmp, data, rate, subtype=subtype, format=fmt))
