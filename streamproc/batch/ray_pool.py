"""The same work on a Ray cluster (``--ray auto`` or ``--ray ray://host:port``).

One actor per worker slot keeps its ONNX sessions for the whole batch; with
``--gpus-per-worker G`` each actor asks Ray for G GPUs, so it lands on a GPU node, where the
CUDA execution provider runs. An actor that dies (killed, its node lost) surfaces as an
error on its pending calls: the file it held goes back to the runner (an attempt), a file
only queued behind it goes back as never started, and a new actor takes the slot.

Short files: a call's round trip through Ray (driver, raylet, actor and back) costs a few
milliseconds of a file that takes tens, so an actor whose last file was short gets its next
file queued behind the current one and never waits for the driver between them. Results are
gathered as each arrives (``ray.wait`` for one, then whatever else is ready), not in lockstep.
Start-up: an actor imports streamproc from wherever its node's Python finds it (Ray puts the
driver's working directory on its workers' path, so a checkout run from its root counts); only
if an actor reports another copy than the driver's do the actors get ``PYTHONPATH`` through a
runtime_env, since Ray cannot serve a runtime_env from its prestarted workers and each actor
then starts a fresh process (measured: up to a second per batch on this machine).
Inputs and the output folder must be at the same paths on every node (a shared filesystem).
Ray is optional: ``pip install 'streamproc[cluster]'``.
"""
from __future__ import annotations

import itertools
import os
import warnings
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import UserError
from .work import Job, Settings, one_line

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])
PIPELINE_S = 1.0    # an actor whose last file took less than this gets a second one queued


def _ray():
    try:
        import ray
    except ImportError:
        raise UserError("--ray needs Ray: pip install 'streamproc[cluster]'") from None
    return ray


class _Worker:
    """The actor: a FileWorker, or the one-line reason it could not be made."""

    def __init__(self, settings: Settings) -> None:
        from .work import FileWorker

        self.error, self.worker = None, None
        try:
            self.worker = FileWorker(settings)
        except UserError as exc:
            self.error = str(exc)
        except Exception as exc:  # noqa: BLE001
            self.error = f"worker could not start: {one_line(exc)}"

    def ready(self) -> dict:
        if self.error:
            return {"fatal": self.error, "root": _PACKAGE_ROOT}
        w = self.worker
        assert w is not None  # no error: the worker started
        return {"identity": w.identity, "providers": w.providers, "name": w.name, "root": _PACKAGE_ROOT}

    def process(self, job: Job) -> dict:
        assert self.worker is not None  # ready() said fatal otherwise and no job came
        return self.worker.process(job)


@dataclass
class _Slot:
    actor: Any                                       # the actor handle
    ready: bool = False
    env: bool = False                                # started with the runtime_env (PYTHONPATH)
    pending: deque = field(default_factory=deque)    # (ObjectRef, Job), in submission order
    last_s: float | None = None                      # worker seconds of its last file

    def depth(self) -> int:
        """Calls it may hold: two (one running, one queued) while its files are short."""
        return 2 if self.last_s is not None and self.last_s < PIPELINE_S else 1


class RayPool:
    """Worker actors on a Ray cluster, with the LocalPool's interface.

    :meth:`poll` also returns ``(job, None, None)`` for a job that was queued on an actor that
    died before starting it: the runner hands it out again without counting an attempt."""

    def __init__(self, settings: Settings, address: str, jobs: int | None, gpus_per_worker: float,
                 files: int) -> None:
        ray = self._ray = _ray()
        path = os.pathsep.join(p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p)
        self._env = {"env_vars": {"PYTHONPATH": path}}
        self._use_env = False              # until an actor imports another copy of streamproc
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Ray's multi-line warnings: the UserError says it in one line
            try:
                ray.init(address=address, logging_level="ERROR", log_to_driver=False)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise UserError(f"cannot connect to the Ray cluster at {address}: {one_line(exc)}") from None
        res = ray.cluster_resources()
        cpus, gpus = int(res.get("CPU", 0)), float(res.get("GPU", 0))
        if gpus_per_worker > 0 and gpus < gpus_per_worker:
            self.shutdown()
            raise UserError(f"--gpus-per-worker {gpus_per_worker:g}: the Ray cluster at {address} has "
                            f"{gpus:g} GPU(s)")
        fit = int(gpus // gpus_per_worker) if gpus_per_worker > 0 else cpus
        self.slots = max(1, min(jobs or fit, files))
        self.settings, self.gpus = settings, gpus_per_worker
        self._actor_cls = ray.remote(_Worker)
        self._slots: list[_Slot] = []
        self._ready: dict = {}             # ObjectRef -> slot index (actor start-up)
        self._calls: dict = {}             # ObjectRef -> (slot index, submission number)
        self._seq = itertools.count()
        self._restarts = 0
        self.description = (f"Ray cluster {address} ({cpus} CPUs, {gpus:g} GPUs), {self.slots} actor"
                            f"{'s' if self.slots > 1 else ''}" + (f", {gpus_per_worker:g} GPU each" if self.gpus else ""))

    def start(self) -> None:
        for i in range(self.slots):
            self._slots.append(_Slot(None))
            self._new_actor(i)

    def _new_actor(self, i: int) -> None:
        opts = {"runtime_env": self._env} if self._use_env else {}
        actor = self._actor_cls.options(num_cpus=self.settings.threads, num_gpus=self.gpus,
                                        max_restarts=0, max_task_retries=0, **opts).remote(self.settings)
        self._slots[i] = _Slot(actor, env=self._use_env)
        self._ready[actor.ready.remote()] = i

    def idle(self) -> int:
        return sum(s.depth() - len(s.pending) for s in self._slots if s.ready)

    def submit(self, job: Job) -> None:
        i = min((i for i, s in enumerate(self._slots) if s.ready and len(s.pending) < s.depth()),
                key=lambda i: len(self._slots[i].pending))   # an empty actor first
        ref = self._slots[i].actor.process.remote(job)
        self._slots[i].pending.append((ref, job))
        self._calls[ref] = (i, next(self._seq))

    def poll(self, timeout: float) -> list[tuple[Job, dict | None, str | None]]:
        ray = self._ray
        out: list[tuple[Job, dict | None, str | None]] = []
        refs = list(self._ready) + list(self._calls)
        if not refs:
            return out
        done, rest = ray.wait(refs, num_returns=1, timeout=timeout)
        if done and rest:  # and whatever else is ready now, without waiting for the others
            done += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        for ref in [r for r in done if r in self._ready]:
            i = self._ready.pop(ref)
            try:
                info = ray.get(ref)
            except ray.exceptions.RayError as exc:
                self._lost(i, f"actor died while starting: {one_line(exc)}")
                continue
            if info.get("root") != _PACKAGE_ROOT and not self._slots[i].env:
                self._use_env = True       # it runs another copy: this one, by PYTHONPATH, from now on
                self._replace(i)
                continue
            if "fatal" in info:
                raise UserError(info["fatal"])
            self._slots[i].ready = True
        for ref in sorted((r for r in done if r in self._calls), key=lambda r: self._calls[r][1]):
            if ref in self._calls:       # else its actor died earlier in this loop: handed back
                self._settle(self._calls[ref][0], ref, out)
        return out

    def _settle(self, i: int, ref, out: list) -> None:
        """``ref`` finished: report slot i's calls up to it (an actor runs its calls in order)."""
        ray, slot = self._ray, self._slots[i]
        while slot.pending:
            head, job = slot.pending.popleft()
            del self._calls[head]
            error: BaseException | None = None
            try:
                if head != ref and not ray.wait([head], timeout=0)[0]:
                    ray.get(ref)         # a later call ended first: the actor died holding ``head``
                    raise RuntimeError("an actor call finished out of order")
                rec = ray.get(head)
            except (ray.exceptions.RayError, RuntimeError) as exc:  # actor killed, node lost, object lost
                error = exc
            if error is None:
                out.append((job, rec, None))
                slot.last_s = rec.get("seconds")
                if head == ref:
                    return
                continue
            out.append((job, None, f"Ray worker lost ({type(error).__name__})"))
            self._hand_back(slot, out)
            self._lost(i, str(error))
            return

    def _hand_back(self, slot: _Slot, out: list) -> None:
        """Calls queued behind the one a dead actor held never started: back, uncounted."""
        while slot.pending:
            ref, job = slot.pending.popleft()
            del self._calls[ref]
            out.append((job, None, None))

    def _lost(self, i: int, why: str) -> None:
        self._restarts += 1
        if self._restarts > 10 * self.slots:
            raise UserError(f"Ray workers keep dying ({' '.join(why.split())[:200]})")
        self._replace(i)

    def _replace(self, i: int) -> None:
        try:
            self._ray.kill(self._slots[i].actor)
        except Exception:  # noqa: BLE001  (already gone)
            pass
        self._new_actor(i)

    def close(self, abort: bool = False) -> None:
        for slot in self._slots:
            if slot.actor is not None:
                try:
                    self._ray.kill(slot.actor)
                except Exception:  # noqa: BLE001
                    pass
        self._slots, self._calls, self._ready = [], {}, {}
        self.shutdown()

    def shutdown(self) -> None:
        if self._ray.is_initialized():
            self._ray.shutdown()
