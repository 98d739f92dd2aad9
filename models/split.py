"""The train/test split (docs: README, models/README.md), enforced in one place.

A music21 corpus work belongs to the test split iff int(sha1(path), 16) % 10 == 0, where
path is the work's path relative to the corpus root (forward slashes).
"""
from __future__ import annotations

import hashlib
from pathlib import Path


def corpus_relative(path: str | Path) -> str:
    """Path of a corpus file relative to the music21 corpus root, with forward slashes."""

    root = _corpus_root()
    p = Path(path)
    try:
        return p.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return p.as_posix()


def _corpus_root() -> Path:
    import music21

    return Path(music21.__file__).parent / "corpus"


def is_test(relpath: str) -> bool:
    return int(hashlib.sha1(relpath.encode("utf-8")).hexdigest(), 16) % 10 == 0

