"""The embedded default: ``--jobs N`` worker processes on this machine.

Each worker has its own pipe and gets one file at a time, so the pool always knows which
file each worker holds: a worker that dies (killed, out of memory, a crash in a library)
is noticed by its process sentinel, its file is handed back to the runner, and a fresh
worker takes its place. No shared queue exists that a dying worker could leave locked.
"""
from __future__ import annotations

import multiprocessing as mp
import os
import signal
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import Any

from ..errors import UserError
from .work import FileWorker, Job, Settings, one_line

MAX_START_FAILURES = 3        # workers that die before they are ready: then the batch gives up
_BLAS_ENV = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def _worker_main(conn, settings: Settings) -> None:
    """A worker process: load the models, then answer one job per message until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C reaches the whole process group; the
    try:                                           # parent decides, and stops workers itself
        worker = FileWorker(settings)
    except UserError as exc:
        conn.send(("fatal", str(exc)))
        return
    except Exception as exc:  # noqa: BLE001
        conn.send(("fatal", f"worker could not start: {one_line(exc)}"))
        return
    conn.send(("ready", {"identity": worker.identity, "providers": worker.providers, "name": worker.name}))
    while True:
        try:
            job = conn.recv()
        except EOFError:
            return
        if job is None:
            return
        conn.send(("done", job.index, worker.process(job)))


@dataclass
class _Slot:
    proc: Any            # a spawn-context Process
    conn: Connection
    ready: bool = False
    job: Job | None = None
    info: dict = field(default_factory=dict)


class LocalPool:
    """``slots`` worker processes; :meth:`poll` reports finished and orphaned jobs."""

    def __init__(self, settings: Settings, jobs: int) -> None:
        self.settings, self.slots = settings, jobs
        self._ctx = mp.get_context("spawn")   # no fork of a parent that runs threads (tqdm)
        self._workers: list[_Slot] = []
        self._start_failures = 0
        self.description = f"local pool, {jobs} worker process{'es' if jobs > 1 else ''}"

    def start(self) -> None:
        for _ in range(self.slots):
            self._workers.append(self._spawn())

    def _spawn(self) -> _Slot:
        parent, child = self._ctx.Pipe()
        saved = {k: os.environ.get(k) for k in _BLAS_ENV}
        for k in _BLAS_ENV:               # a worker is one core's worth: no hidden thread pools
            os.environ.setdefault(k, str(self.settings.threads))
        try:
            proc = self._ctx.Process(target=_worker_main, args=(child, self.settings), daemon=True,
                                     name="streamproc-batch-worker")
            proc.start()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
        child.close()
        return _Slot(proc, parent)

    def idle(self) -> int:
        return sum(1 for w in self._workers if w.ready and w.job is None)

    def submit(self, job: Job) -> None:
        slot = next(w for w in self._workers if w.ready and w.job is None)
        slot.job = job
        slot.conn.send(job)

    def poll(self, timeout: float) -> list[tuple[Job, dict | None, str | None]]:
        """(job, record, None) for finished files, (job, None, why) for a dead worker's file."""
        out: list[tuple[Job, dict | None, str | None]] = []
        waitables: list[Any] = [w.conn for w in self._workers] + [w.proc.sentinel for w in self._workers]
        ready = set(wait(waitables, timeout))
        for i, w in enumerate(list(self._workers)):
            alive = True
            if w.conn in ready:
                alive = self._read(w, out)
            if alive and w.proc.sentinel in ready and not w.conn.poll():
                alive = False
            if not alive:
                self._replace(i, w, out)
        return out

    def _read(self, w: _Slot, out: list) -> bool:
        try:
            while w.conn.poll():
                msg = w.conn.recv()
                if msg[0] == "ready":
                    w.ready, w.info = True, msg[1]
                elif msg[0] == "done":
                    out.append((w.job, msg[2], None))
                    w.job = None
                elif msg[0] == "fatal":
                    raise UserError(msg[1])
        except (EOFError, OSError):
            return False
        return True

    def _replace(self, i: int, w: _Slot, out: list) -> None:
        w.proc.join(timeout=5)
        code = w.proc.exitcode
        why = (f"killed by {signal.Signals(-code).name}" if code is not None and code < 0 else f"exit status {code}")
        if w.job is not None:
            out.append((w.job, None, f"worker {w.proc.pid} died ({why})"))
        elif not w.ready:
            self._start_failures += 1
            if self._start_failures >= MAX_START_FAILURES:
                raise UserError(f"batch workers die while starting ({why}); try --jobs 1")
        w.conn.close()
        self._workers[i] = self._spawn()

    def close(self, abort: bool = False) -> None:
        """Stop every worker: politely when done, at once (SIGTERM, then SIGKILL) on abort."""
        for w in self._workers:
            try:
                if abort:
                    w.proc.terminate()
                else:
                    w.conn.send(None)
            except (OSError, ValueError):
                pass
        for w in self._workers:
            w.proc.join(timeout=2 if abort else 30)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join()
            w.conn.close()
        self._workers = []
