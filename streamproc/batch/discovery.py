"""Which files a batch processes, and where each one's output goes.

INPUT is any mix of folders (searched recursively for audio), globs (``**`` included) and
list files (``.txt``: one path a line, ``#`` comments; ``.csv``: the ``path`` column, else the
first). Paths in a list are relative to the list's folder. The outputs mirror the input tree:
each file's path relative to the common root of all inputs, under the output folder, with the
output format's extension. Every mistake here is a one-line UserError before any work starts.
"""
from __future__ import annotations

import csv
import glob
import os
from dataclasses import dataclass
from pathlib import Path

from ..audio_io import AUDIO_EXTENSIONS
from ..errors import UserError

LIST_SUFFIXES = (".txt", ".csv", ".lst")
_GLOB_MAGIC = set("*?[")
_HEADER_NAMES = ("path", "file", "filename", "input")


@dataclass(frozen=True)
class Item:
    """One input file and its output path relative to the output folder."""
    src: Path
    rel_out: Path


def _is_audio(p: Path) -> bool:
    return p.suffix.lower() in AUDIO_EXTENSIONS


def _under(p: Path, folder: Path) -> bool:
    return p == folder or folder in p.parents


def _walk(folder: Path, skip: Path) -> list[Path]:
    """Audio files under folder (sorted, symlinked folders not followed), none under skip."""
    found = []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        dirs[:] = sorted(d for d in dirs if not _under((here / d).resolve(), skip))
        found += [here / f for f in sorted(files) if _is_audio(Path(f))]
    return found


def _glob_root(pattern: str) -> Path:
    """The folder a glob is anchored at: its leading parts without wildcards."""
    parts = []
    for part in Path(pattern).parts:
        if _GLOB_MAGIC & set(part):
            break
        parts.append(part)
    return Path(*parts) if parts else Path(".")


def _read_list(path: Path) -> list[tuple[int, str]]:
    """(line number, path text) of each entry in a .txt/.lst or .csv list."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read list file {path}: {exc}") from None
    if path.suffix.lower() != ".csv":
        return [(n, line.strip()) for n, line in enumerate(text.splitlines(), 1)
                if line.strip() and not line.lstrip().startswith("#")]
    rows = list(csv.reader(text.splitlines()))
    col, start = 0, 0
    if rows:
        header = [c.strip().lower() for c in rows[0]]
        named = [i for i, c in enumerate(header) if c in _HEADER_NAMES]
        if named:
            col, start = named[0], 1
    out = []
    for n, row in enumerate(rows[start:], start + 1):
        if len(row) > col and row[col].strip():
            out.append((n, row[col].strip()))
    return out


def _from_list(path: Path) -> list[tuple[Path, Path]]:
    base = path.parent
    out = []
    for n, entry in _read_list(path):
        p = Path(entry).expanduser()
        p = p if p.is_absolute() else base / p
        if not p.is_file():
            raise UserError(f"{path} line {n}: file not found: {p}")
        if not _is_audio(p):
            raise UserError(f"{path} line {n}: {p} is not an audio file ({', '.join(e[1:] for e in AUDIO_EXTENSIONS)})")
        out.append((p, base if _under(p.resolve(), base.resolve()) else p.parent))
    if not out:
        raise UserError(f"list file {path} names no files")
    return out


def _expand(arg: str, skip: Path) -> list[tuple[Path, Path]]:
    """(file, the root its output path is taken relative to) for one INPUT argument."""
    p = Path(arg).expanduser()
    if p.is_dir():
        if _under(p.resolve(), skip):
            raise UserError(f"input folder {p} is inside the output folder {skip}; choose another --out")
        files = _walk(p, skip)
        if not files:
            raise UserError(f"folder {p} holds no audio files ({', '.join(e[1:] for e in AUDIO_EXTENSIONS)})")
        return [(f, p) for f in files]
    if p.is_file():
        if p.suffix.lower() in LIST_SUFFIXES:
            return _from_list(p)
        if _is_audio(p):
            return [(p, p.parent)]
        raise UserError(f"{p} is neither an audio file ({', '.join(e[1:] for e in AUDIO_EXTENSIONS)}) nor a list "
                        f"of files ({', '.join(e[1:] for e in LIST_SUFFIXES)})")
    if _GLOB_MAGIC & set(arg):
        root = _glob_root(arg)
        found = []
        for m in sorted(glob.glob(os.path.expanduser(arg), recursive=True)):
            q = Path(m)
            if q.is_dir():
                found += [(f, root) for f in _walk(q, skip)]
            elif _is_audio(q) and not _under(q.resolve(), skip):
                found.append((q, root))
        if not found:
            raise UserError(f"{arg} matches no audio files")
        return found
    raise UserError(f"input not found: {p}")


def discover(inputs: list[str], out_dir: Path, extension: str) -> list[Item]:
    """Every input file once, in a stable order, with its mirrored output path."""
    if not inputs:
        raise UserError("batch needs at least one INPUT (folder, glob or list file)")
    skip = out_dir.resolve()
    pairs, seen = [], set()
    for arg in inputs:
        for f, root in _expand(arg, skip):
            key = f.resolve()
            if key not in seen:  # the same file through two INPUTs (or a link) runs once
                seen.add(key)
                pairs.append((Path(os.path.abspath(f)), Path(os.path.abspath(root))))
    common = Path(os.path.commonpath([str(root) for _, root in pairs]))
    items: list = []
    taken: dict = {}
    for src, _ in pairs:
        rel = src.relative_to(common).with_suffix(extension)
        if rel in taken:
            raise UserError(f"{taken[rel]} and {src} would both write {out_dir / rel}; "
                            f"rename one or run them as separate batches")
        taken[rel] = src
        items.append(Item(src, rel))
    return items
