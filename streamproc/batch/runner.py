"""Running a batch: plan, skip what is done, hand files to a pool, record, report.

Interruptions: Ctrl-C and SIGTERM stop the workers, remove what they were writing and leave
the manifest with every file that finished; a worker that dies mid-file has its file given
to another worker (once more; a file that kills two workers is recorded as failed).
"""
from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from .discovery import discover
from .manifest import MANIFEST_NAME, PARTIAL_DIR, BatchLock, Manifest, input_hash, is_done
from .work import Job, Settings, check_settings, model_identity, one_line

MAX_ATTEMPTS = 2              # a file is tried on at most this many workers that die under it
POLL_S = 0.5


class Interrupted(Exception):
    """Ctrl-C or SIGTERM: the batch stopped early (exit 130 or 143)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@dataclass
class BatchSummary:
    done: int = 0
    skipped: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)   # (input, message)
    audio_s: float = 0.0
    wall_s: float = 0.0
    workers: int = 0
    pool: str = ""
    manifest: Path | None = None
    interrupted: str | None = None
    left: int = 0

    @property
    def exit_status(self) -> int:
        if self.interrupted:
            return 143 if self.interrupted == "SIGTERM" else 130
        return 1 if self.failed else 0

    def lines(self) -> list[str]:
        rate = self.audio_s / self.wall_s if self.wall_s > 0 else 0.0
        head = (f"batch: {self.done} done, {self.skipped} skipped, {len(self.failed)} failed"
                f" in {self.wall_s:.1f} s" + (f" ({self.audio_s / 3600:.3f} audio h, {rate:.1f} audio h/h, {self.pool})"
                                              if self.pool else ""))
        out = [head]
        if self.interrupted:
            out.append(f"batch: interrupted ({self.interrupted}) with {self.left} file(s) left; "
                       f"the same command resumes")
        for src, msg in self.failed:
            out.append(f"failed: {src}: {msg}")
        out.append(f"manifest: {self.manifest}")
        return out


def _duration(path: Path) -> float:
    import soundfile as sf

    try:
        return float(sf.info(str(path)).duration)
    except Exception:  # noqa: BLE001  (an unreadable file: its worker reports why)
        return 0.0


class _Progress:
    """Files, audio hours per hour and an ETA (tqdm, driven by audio seconds)."""

    def __init__(self, total_s: float, files: int, quiet: bool) -> None:
        from tqdm import tqdm

        self.files, self.finished, self.audio_s, self.t0 = files, 0, 0.0, time.perf_counter()
        self.bar = tqdm(total=round(total_s, 1), unit="audio s", disable=quiet or files == 0, leave=False,
                        dynamic_ncols=True, mininterval=0.5, file=sys.stderr,
                        bar_format="{percentage:3.0f}%|{bar}| {desc} [{elapsed}<{remaining}]")
        self._show()

    def _show(self) -> None:
        rate = self.audio_s / max(time.perf_counter() - self.t0, 1e-9)
        self.bar.set_description_str(f"{self.finished}/{self.files} files, {self.audio_s / 3600:.3f} audio h, "
                                 f"{rate:.1f} audio h/h", refresh=False)

    def update(self, duration_s: float, planned_s: float) -> None:
        self.finished += 1
        self.audio_s += duration_s
        self._show()
        self.bar.update(min(round(planned_s, 1), self.bar.total - self.bar.n))

    def close(self) -> None:
        self.bar.close()


def _make_pool(settings: Settings, jobs: int | None, ray_address: str | None, gpus_per_worker: float, files: int):
    """A pool of at most ``files`` workers (no point starting more)."""
    if ray_address:
        from .ray_pool import RayPool

        return RayPool(settings, ray_address, jobs, gpus_per_worker, files)
    from dataclasses import replace

    from .local import LocalPool

    n = min(jobs or os.cpu_count() or 1, files)
    return LocalPool(replace(settings, threads=max(1, (os.cpu_count() or 1) // n)), n)


def _on_signal(signum, frame):  # noqa: ARG001
    raise Interrupted(signum)


def run_batch(inputs: list[str], out_dir: str | Path, settings: Settings, jobs: int | None = None,
              ray_address: str | None = None, gpus_per_worker: float = 0.0, quiet: bool = False,
              log=print) -> BatchSummary:
    """Process every input file into out_dir; returns the summary (also for an interrupt)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {out} is a file, not a folder")
    spec = check_settings(settings)
    items = discover(inputs, out, "." + settings.fmt)
    if jobs is not None and jobs < 1:
        raise UserError(f"--jobs must be at least 1, got {jobs}")
    if not gpus_per_worker >= 0:
        raise UserError(f"--gpus-per-worker must be 0 or more, got {gpus_per_worker:g}")
    if gpus_per_worker and not ray_address:
        raise UserError("--gpus-per-worker places Ray actors on GPU nodes; it needs --ray ADDRESS")
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM,)}
    try:
        with BatchLock(out):
            return _run_locked(items, out, settings, spec, jobs, ray_address, gpus_per_worker, quiet, log, t0)
    except UserError:  # e.g. no Ray cluster there: a folder made for nothing goes again
        if created and not (out / MANIFEST_NAME).exists():
            shutil.rmtree(out, ignore_errors=True)
        raise
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _run_locked(items, out: Path, settings: Settings, spec, jobs, ray_address, gpus_per_worker, quiet, log, t0):
    partial = out / PARTIAL_DIR
    shutil.rmtree(partial, ignore_errors=True)   # what a killed batch was writing
    manifest = Manifest(out)
    previous = manifest.load()
    key = {"task": spec.task, "recon": spec.recon, "profile": spec.profile_name, "model": model_identity(spec),
           "level": settings.level}
    summary = BatchSummary(manifest=manifest.path)
    todo: deque = deque()
    meta: dict = {}
    for i, item in enumerate(items):
        rel = item.rel_out.as_posix()
        prev = previous.get(rel)
        try:
            sha, st = input_hash(item.src, prev), item.src.stat()
        except OSError as exc:
            rec = _record(item, rel, key, None, None, {"status": "failed", "error": f"cannot read {item.src}: "
                                                      f"{exc.strerror or one_line(exc)}"})
            manifest.append(rec)
            summary.failed.append((str(item.src), rec["error"]))
            continue
        if is_done(prev, sha, key, out / item.rel_out):
            summary.skipped += 1
            continue
        meta[i] = (item, rel, sha, st, _duration(item.src))
        todo.append(Job(i, str(item.src), str(out / item.rel_out), str(partial / f"{i}{item.rel_out.suffix}")))
    if not todo:
        manifest.close()
        summary.wall_s = time.perf_counter() - t0
        return summary
    partial.mkdir()
    pool = _make_pool(settings, jobs, ray_address, gpus_per_worker, len(todo))
    summary.workers, summary.pool = pool.slots, pool.description
    log(f"batch: {len(todo)} file(s) to do, {summary.skipped} already done; {pool.description}", file=sys.stderr)
    progress = _Progress(sum(m[4] for m in meta.values()), len(todo), quiet)
    attempts: dict[int, int] = {}
    in_flight = 0
    aborted = True
    try:
        pool.start()
        while todo or in_flight:
            while todo and pool.idle():
                pool.submit(todo.popleft())
                in_flight += 1
            for job, result, lost in pool.poll(POLL_S):
                in_flight -= 1
                item, rel, sha, st, planned = meta[job.index]
                if result is None and lost is None:   # queued on a worker that died first
                    todo.appendleft(job)
                    continue
                if lost is not None:
                    attempts[job.index] = attempts.get(job.index, 0) + 1
                    if attempts[job.index] < MAX_ATTEMPTS:
                        todo.appendleft(job)
                        continue
                    result = {"status": "failed", "error": f"{lost} while processing this file, "
                                                           f"{MAX_ATTEMPTS} times", "duration_s": None}
                rec = _record(item, rel, key, sha, st, result)
                manifest.append(rec)
                if rec["status"] == "done":
                    summary.done += 1
                    summary.audio_s += rec["duration_s"] or 0.0
                else:
                    summary.failed.append((str(item.src), rec["error"]))
                progress.update(rec["duration_s"] or 0.0, planned)
        aborted = False
    except (KeyboardInterrupt, Interrupted) as exc:
        summary.interrupted = exc.args[0] if isinstance(exc, Interrupted) else "SIGINT"
        summary.left = len(todo) + in_flight
    finally:
        progress.close()
        pool.close(abort=aborted)
        manifest.close()
        shutil.rmtree(partial, ignore_errors=True)
    summary.wall_s = time.perf_counter() - t0
    return summary


def _record(item, rel: str, key: dict, sha: str | None, st, result: dict) -> dict:
    rec = {"input": str(item.src), "output": rel, "sha256": sha, **key,
           "size": st.st_size if st else None, "mtime_ns": st.st_mtime_ns if st else None,
           "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    rec.update({k: v for k, v in result.items()})
    for k in ("status", "error", "duration_s", "seconds", "worker", "providers", "peak_rss_mb"):
        rec.setdefault(k, None)
    return rec
