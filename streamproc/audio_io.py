"""Reading and writing audio files in blocks, with every user mistake turned into a one-line UserError.

Files are read and written block by block, so memory does not grow with a file's length.
Writes go to a temporary file in the destination folder, opened (and so probed: folder
writable, name short enough, format able to hold the channels and rate) before any work,
and renamed into place at the end, so a failed or interrupted run never leaves a partial
output and never touches the input.
"""
from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import soundfile as sf

from .errors import UserError
from .level import LevelMeter
from .signals import deferred

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".mp3", ".aiff", ".aif")
MIN_RATE, MAX_RATE = 4000, 192000
MAX_CHANNELS = 64
READ_BLOCK = 1 << 16
CHATTY_DECODERS = (".mp3",)  # libmpg123 prints to stderr itself


@dataclass(frozen=True)
class OutputFormat:
    """What libsndfile can write under one extension (measured with libsndfile 1.2)."""
    format: str
    subtype: str
    max_channels: int
    rates: tuple[int, ...] | None = None  # None: any rate within MIN_RATE..MAX_RATE


MP3_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)  # MPEG 1, 2 and 2.5
OUTPUT_FORMATS: dict[str, OutputFormat] = {
    ".wav": OutputFormat("WAV", "PCM_24", MAX_CHANNELS),
    ".flac": OutputFormat("FLAC", "PCM_24", 8),
    ".ogg": OutputFormat("OGG", "VORBIS", MAX_CHANNELS),
    ".mp3": OutputFormat("MP3", "MPEG_LAYER_III", 2, MP3_RATES),
    ".aiff": OutputFormat("AIFF", "PCM_24", MAX_CHANNELS),
    ".aif": OutputFormat("AIFF", "PCM_24", MAX_CHANNELS),
}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def _open_error(exc: BaseException, path: Path) -> str:
    """libsndfile's reason, without the path it repeats, and not "does not exist" for a file
    that does (what it says of an mp3 cut short)."""
    text = _one_line(exc).replace(f"Error opening {str(path)!r}: ", "")
    if text.startswith("File does not exist or is not a regular file") and path.is_file():
        return "not a readable audio file of its format (truncated or corrupt?)"
    return text


@contextmanager
def decoder_quiet(active: bool = True) -> Iterator[None]:
    """Silence what a C decoder prints on file descriptor 2 (libmpg123's warnings and notes on
    damaged mp3 files), so that a mistake is one line; what it means comes back as an error."""
    if not active:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def check_rate(rate: float, what: str = "sample rate") -> int:
    """A whole number of Hz within MIN_RATE..MAX_RATE, or a UserError."""
    if not (isinstance(rate, (int, float, np.integer, np.floating)) and np.isfinite(rate)
            and rate == int(rate) and MIN_RATE <= rate <= MAX_RATE):
        raise UserError(f"{what} must be a whole number of Hz within {MIN_RATE}-{MAX_RATE}, got {rate}")
    return int(rate)


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder if folder.is_dir() else ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        return 255


def check_name_length(p: Path, kind: str) -> int:
    """UserError for a file name longer than its file system allows (stat would fail on it
    with ENAMETOOLONG); else the folder's name limit."""
    parent = p.parent if str(p.parent) else Path(".")
    name_max = _name_max(parent)
    size = len(os.fsencode(p.name))
    if size > name_max:
        raise UserError(f"{kind} name {p.name[:24]}...{p.suffix} is {size} bytes long; the file system "
                        f"of {parent} allows at most {name_max}")
    return name_max


def check_input_path(path: str | Path, extensions: tuple[str, ...] = AUDIO_EXTENSIONS,
                     kind: str = "input") -> Path:
    p = Path(path)
    check_name_length(p, kind)
    if not p.exists():
        raise UserError(f"{kind} file not found: {p}")
    if p.is_dir():
        raise UserError(f"{kind} is a directory, not a file: {p}")
    if p.suffix.lower() not in extensions:
        raise UserError(f"unsupported {kind} format {p.suffix or '(no extension)'!r} for {p} "
                        f"(use {', '.join(e[1:] for e in extensions)})")
    return p


def same_file(a: Path, b: Path) -> bool:
    """Same path or the same file on disk (hard link, symlink, other spelling)."""
    if a.resolve() == b.resolve():
        return True
    return a.exists() and b.exists() and os.path.samefile(a, b)


def check_output_path(path: str | Path, inputs: list[Path], extensions: tuple[str, ...],
                      kind: str = "output") -> Path:
    p = Path(path)
    check_name_length(p, kind)
    if p.is_dir():
        raise UserError(f"{kind} {p} is a folder; name a file in it (e.g. {p / ('out' + extensions[0])})")
    if p.suffix.lower() not in extensions:
        raise UserError(f"unsupported {kind} format {p.suffix or '(no extension)'!r} for {p} "
                        f"(use {', '.join(e[1:] for e in extensions)})")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"{kind} folder does not exist: {parent}")
    for src in inputs:
        if same_file(p, src):
            raise UserError(f"{kind} {p} is the input file; choose another name")
    return p


def check_output_format(path: Path, rate: int, channels: int) -> OutputFormat:
    """The extension's format, if it can hold ``channels`` at ``rate``; else a UserError."""
    ext = path.suffix.lower()
    fmt = OUTPUT_FORMATS.get(ext)
    if fmt is None:
        raise UserError(f"unsupported output format {ext or '(no extension)'!r} for {path} "
                        f"(use {', '.join(e[1:] for e in OUTPUT_FORMATS)})")
    if channels > fmt.max_channels:
        better = next(e for e, f in OUTPUT_FORMATS.items() if f.max_channels >= channels)
        raise UserError(f"{ext[1:]} holds at most {fmt.max_channels} channels; the output has {channels} "
                        f"(write {better[1:]} instead)")
    if not MIN_RATE <= rate <= MAX_RATE or (fmt.rates is not None and rate not in fmt.rates):
        allowed = (", ".join(f"{r / 1000:g}" for r in fmt.rates) + " kHz" if fmt.rates
                   else f"{MIN_RATE}-{MAX_RATE} Hz")
        raise UserError(f"{ext[1:]} cannot be written at {rate} Hz (it takes {allowed}); "
                        f"pick another --out-rate or format")
    return fmt


_TEMPORARIES: set[str] = set()  # made by _temp_beside and neither published nor removed yet


def _temp_beside(path: Path) -> str:
    """A new private temporary file in ``path``'s folder (what every write goes through), named
    after ``path`` where the file system allows it; a name it does not allow is a UserError.
    It is recorded, with signals held back, so :func:`remove_temporaries` finds it whenever a
    signal or an error arrives before its owner could guard it."""
    parent = path.parent if str(path.parent) else Path(".")
    size, name_max = len(os.fsencode(path.name)), check_name_length(path, "output")
    fits = size + 10 + len(os.fsencode(path.suffix)) <= name_max  # ".NAME." + mkstemp's 8 + suffix
    prefix = f".{path.name}." if fits else ".streamproc-"
    with deferred():
        try:
            fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=path.suffix, dir=parent)
        except OSError as exc:
            raise UserError(f"cannot write into folder {parent}: {exc.strerror or _one_line(exc)}") from None
        _TEMPORARIES.add(tmp)
        os.close(fd)
    return tmp


def _remove_temp(tmp: str) -> None:
    if os.path.exists(tmp):
        os.unlink(tmp)
    _TEMPORARIES.discard(tmp)


def remove_temporaries() -> None:
    """Removes every temporary output still unfinished: the last step of a command that stops
    early, so no partial file is left whatever moment a signal chose."""
    for tmp in list(_TEMPORARIES):
        try:
            _remove_temp(tmp)
        except OSError:
            pass


def probe_output(path: Path) -> None:
    """UserError now, before any work, if a file cannot be written at ``path`` by :func:`atomic_write`."""
    _remove_temp(_temp_beside(path))


def _publish(tmp: str, path: Path) -> None:
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; the result should not be
    try:
        os.replace(tmp, path)
    except OSError as exc:
        raise UserError(f"cannot write {path}: {exc.strerror or _one_line(exc)}") from None
    _TEMPORARIES.discard(tmp)


def atomic_write(path: Path, write: Callable[[str], object]) -> None:
    """Calls write(tmp_path) then renames tmp_path to path; removes the temporary on failure."""
    tmp = _temp_beside(path)
    try:
        write(tmp)
        _publish(tmp, path)
    except BaseException:
        _remove_temp(tmp)
        raise


class AudioReader:
    """An audio file opened and checked (rate, channels, length, finite samples), read in blocks
    of (channels, samples) float64."""

    def __init__(self, path: str | Path, kind: str = "input") -> None:
        self.path = check_input_path(path, kind=kind)
        self.kind = kind
        self._quiet = self.path.suffix.lower() in CHATTY_DECODERS
        try:
            with decoder_quiet(self._quiet):
                self._f = sf.SoundFile(str(self.path))
        except Exception as exc:  # libsndfile's messages are specific but multi-line at times
            raise UserError(f"cannot read {self.path} as audio: {_open_error(exc, self.path)}") from None
        try:
            self._check()
        except BaseException:
            self._f.close()
            raise

    def _check(self) -> None:
        p, f = self.path, self._f
        self.rate, self.channels, self.frames = int(f.samplerate), int(f.channels), int(f.frames)
        if not MIN_RATE <= self.rate <= MAX_RATE:
            raise UserError(f"{p}: sample rate {self.rate} Hz is outside the supported {MIN_RATE}-{MAX_RATE} Hz")
        if self.channels > MAX_CHANNELS:
            raise UserError(f"{p} has {self.channels} channels; at most {MAX_CHANNELS} are supported")
        if self.frames <= 0:
            raise UserError(f"{p} contains no audio samples")
        self._meter: LevelMeter | None = None
        if f.subtype in ("FLOAT", "DOUBLE"):  # only float files can hold NaN: scan them before any work
            self._measure()
            # the frame count an mp3 or a truncated file's header promises is checked by reading

    @property
    def seconds(self) -> float:
        return self.frames / self.rate

    def blocks(self, block: int = READ_BLOCK) -> Iterator[np.ndarray]:
        """From the start of the file, (channels, <= block) float64 blocks."""
        f = self._f
        try:
            with decoder_quiet(self._quiet):
                f.seek(0)
        except Exception as exc:  # a header that promises what the file does not hold
            raise UserError(f"cannot read {self.path} as audio: {_one_line(exc)}") from None
        n = 0
        while True:
            try:
                with decoder_quiet(self._quiet):
                    data = f.read(block, dtype="float64", always_2d=True)
            except MemoryError:  # the machine's trouble, not the file's
                raise
            except Exception as exc:
                raise UserError(f"cannot read {self.path} as audio: {_one_line(exc)}") from None
            if not len(data):
                break
            if not np.isfinite(np.sum(data)):
                bad = int((~np.isfinite(data)).sum())
                raise UserError(f"{self.path} contains NaN or infinite samples ({bad} in the block at "
                                f"{n / self.rate:.2f} s); fix the file (streamproc does not guess what they "
                                f"should be)")
            n += len(data)
            yield data.T
        if n == 0:
            raise UserError(f"{self.path} contains no audio samples")
        self.frames = n

    def _measure(self) -> LevelMeter:
        if self._meter is None:
            meter = LevelMeter(self.rate, self.channels)
            for b in self.blocks():
                meter.push(b)
            self._meter = meter
        return self._meter

    @property
    def peak(self) -> float:
        """The largest absolute sample over every channel (full scale 1.0): read once, on
        first use, in a pass of its own (float files: during the check at opening)."""
        return self._measure().peak

    @property
    def dc(self) -> np.ndarray:
        """Each channel's mean, its DC offset (same pass)."""
        return self._measure().dc

    @property
    def loudness_dbfs(self) -> float:
        """The file's loudness as :class:`streamproc.level.LevelMeter` measures it (same pass)."""
        return self._measure().loudness_dbfs

    def read(self) -> np.ndarray:
        """The whole file (for short clips only)."""
        return np.concatenate(list(self.blocks()), axis=1)

    def close(self) -> None:
        self._f.close()

    def __enter__(self) -> "AudioReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Returns (channels, samples) float64 and the sample rate of a whole (short) file."""
    with AudioReader(path) as r:
        return r.read(), r.rate


class AudioWriter:
    """Blocks of (channels, samples) into a temporary file beside ``path``; :meth:`commit` renames
    it into place, and leaving the ``with`` block by an exception (or a signal) removes it.

    Opened before any work, so a format, folder or name that cannot work fails first. Samples
    beyond full scale are clipped and counted in ``clipped``."""

    def __init__(self, path: Path, rate: int, channels: int) -> None:
        fmt = check_output_format(path, rate, channels)
        self.path, self.rate, self.channels = path, rate, channels
        self.clipped = 0
        self.frames = 0
        self._tmp: str | None = _temp_beside(path)
        try:
            self._f = sf.SoundFile(self._tmp, "w", rate, channels, fmt.subtype, format=fmt.format)
        except BaseException as exc:  # a signal included: the temporary is not yet guarded by ``with``
            _remove_temp(self._tmp)
            if isinstance(exc, Exception):
                raise UserError(f"cannot write {path}: {_one_line(exc)}") from None
            raise

    def write(self, y: np.ndarray) -> None:
        if not y.shape[1]:
            return
        over = np.abs(y) > 1.0
        if over.any():
            self.clipped += int(over.sum())
            y = np.clip(y, -1.0, 1.0)
        try:
            self._f.write(np.ascontiguousarray(y.T))
        except Exception as exc:  # e.g. the disk filled up
            raise UserError(f"cannot write {self.path}: {_one_line(exc)}") from None
        self.frames += y.shape[1]

    def commit(self) -> None:
        try:
            self._f.close()
        except Exception as exc:
            raise UserError(f"cannot write {self.path}: {_one_line(exc)}") from None
        assert self._tmp is not None
        _publish(self._tmp, self.path)
        self._tmp = None

    def abort(self) -> None:
        if self._tmp is None:
            return
        try:
            self._f.close()
        except Exception:
            pass
        _remove_temp(self._tmp)
        self._tmp = None

    def __enter__(self) -> "AudioWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None:
            self.abort()


def write_audio(path: Path, x: np.ndarray, rate: int) -> int:
    """(channels, samples) float -> file; format from the extension (24-bit PCM for wav/flac).
    Returns the count of samples clipped at full scale."""
    x = np.asarray(x, dtype=np.float64)
    with AudioWriter(path, rate, x.shape[0]) as w:
        for i in range(0, max(x.shape[1], 1), READ_BLOCK):
            w.write(x[:, i:i + READ_BLOCK])
        w.commit()
    return w.clipped
