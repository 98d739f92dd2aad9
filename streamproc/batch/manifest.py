"""The batch's record under its output folder, and the lock that gives one batch a folder.

``DIR/batch-manifest.jsonl`` gets one JSON line per finished file (done or failed), appended
and flushed as each finishes, so an interrupted batch loses nothing it finished; the last line
for an output wins. A re-run skips an input whose last record is ``done`` with the same
content hash, task, reconstruction, profile and model identity and whose output is still there.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
from pathlib import Path
from typing import IO

from ..errors import UserError

MANIFEST_NAME = "batch-manifest.jsonl"
LOCK_NAME = ".batch.lock"
PARTIAL_DIR = ".batch-partial"     # outputs being written; removed at start and end of every batch
RESUME_KEYS = ("task", "recon", "profile", "model", "level")


def file_hash(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes (what 'the same input' means to a re-run)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


class Manifest:
    """Append-only JSONL; reading keeps the last record per output path."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / MANIFEST_NAME
        self._f: IO[str] | None = None

    def load(self) -> dict[str, dict]:
        last: dict[str, dict] = {}
        if not self.path.is_file():
            return last
        with open(self.path, encoding="utf-8") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:  # a line cut short when a batch was killed mid-write
                    continue
                if isinstance(rec, dict) and "output" in rec:
                    last[rec["output"]] = rec
        return last

    def append(self, rec: dict) -> None:
        f = self._f
        if f is None:
            f = self._f = open(self.path, "a", encoding="utf-8")
            if f.tell() and not _ends_with_newline(self.path):
                f.write("\n")  # after a cut-short line, start on a fresh one
        f.write(json.dumps(rec, sort_keys=True) + "\n")
        f.flush()
        os.fsync(f.fileno())

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
            self._f = None


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def input_hash(src: Path, previous: dict | None) -> str:
    """The input's sha256, reusing the recorded one while size and mtime are unchanged
    (as rsync and git do), so a re-run over a large archive does not read it all again."""
    st = src.stat()
    if previous and previous.get("size") == st.st_size and previous.get("mtime_ns") == st.st_mtime_ns \
            and previous.get("sha256"):
        return previous["sha256"]
    return file_hash(src)


def is_done(previous: dict | None, sha256: str, key: dict, output: Path) -> bool:
    """Whether a re-run may skip this input."""
    return bool(previous and previous.get("status") == "done" and previous.get("sha256") == sha256
                and all(previous.get(k) == key[k] for k in RESUME_KEYS) and output.is_file())


class BatchLock:
    """An exclusive flock on DIR/.batch.lock for the batch's lifetime (the kernel drops it
    when the process dies, so a killed batch never leaves the folder locked)."""

    def __init__(self, out_dir: Path) -> None:
        self.path = out_dir / LOCK_NAME
        self._f: IO[str] | None = None

    def __enter__(self) -> "BatchLock":
        f = open(self.path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise UserError(f"another batch ({holder}) is writing into {self.path.parent}; "
                            f"wait for it to finish or choose another --out") from None
        f.seek(0)
        f.truncate()
        f.write(f"pid {os.getpid()}")
        f.flush()
        self._f = f
        return self

    def __exit__(self, *exc) -> None:
        if self._f is not None:
            self._f.seek(0)
            self._f.truncate()
            fcntl.flock(self._f, fcntl.LOCK_UN)
            self._f.close()
            self._f = None
