"""The same work on a Ray cluster (``--ray auto`` or ``--ray ray://host:port``).

One actor per worker slot keeps its ONNX sessions for the whole batch; with
``--gpus-per-worker G`` each actor asks Ray for G GPUs, so it lands on a GPU node, where the
CUDA execution provider runs. An actor that dies (killed, its node lost) surfaces as an
error on its pending call: its file goes back to the runner and a new actor takes the slot.
Inputs and the output folder must be at the same paths on every node (a shared filesystem).
Ray is optional: ``pip install 'streamproc[cluster]'``.
"""
from __future__ import annotations

import os
import warnings
from pathlib import Path

from ..errors import UserError
from .work import Job, Settings, one_line

_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


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
            return {"fatal": self.error}
        w = self.worker
        assert w is not None  # no error: the worker started
        return {"identity": w.identity, "providers": w.providers, "name": w.name}

    def process(self, job: Job) -> dict:
        assert self.worker is not None  # ready() said fatal otherwise and no job came
        return self.worker.process(job)


class RayPool:
    """Worker actors on a Ray cluster, with the LocalPool's interface."""

    def __init__(self, settings: Settings, address: str, jobs: int | None, gpus_per_worker: float,
                 files: int) -> None:
        ray = self._ray = _ray()
        path = os.pathsep.join(p for p in (_PACKAGE_ROOT, os.environ.get("PYTHONPATH")) if p)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Ray's multi-line warnings: the UserError says it in one line
            try:
                ray.init(address=address, logging_level="ERROR", log_to_driver=False,
                         runtime_env={"env_vars": {"PYTHONPATH": path}})
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
        self._actors: list = []            # per slot: actor handle
        self._ready: dict = {}             # ObjectRef -> slot (actor start-up)
        self._calls: dict = {}             # ObjectRef -> (slot, job)
        self._idle: set[int] = set()
        self._restarts = 0
        self.description = (f"Ray cluster {address} ({cpus} CPUs, {gpus:g} GPUs), {self.slots} actor"
                            f"{'s' if self.slots > 1 else ''}" + (f", {gpus_per_worker:g} GPU each" if self.gpus else ""))

    def start(self) -> None:
        for slot in range(self.slots):
            self._actors.append(None)
            self._new_actor(slot)

    def _new_actor(self, slot: int) -> None:
        actor = self._actor_cls.options(num_cpus=self.settings.threads, num_gpus=self.gpus,
                                        max_restarts=0, max_task_retries=0).remote(self.settings)
        self._actors[slot] = actor
        self._ready[actor.ready.remote()] = slot

    def idle(self) -> int:
        return len(self._idle)

    def submit(self, job: Job) -> None:
        slot = self._idle.pop()
        self._calls[self._actors[slot].process.remote(job)] = (slot, job)

    def poll(self, timeout: float) -> list[tuple[Job, dict | None, str | None]]:
        ray = self._ray
        out: list[tuple[Job, dict | None, str | None]] = []
        refs = list(self._ready) + list(self._calls)
        if not refs:
            return out
        done, _ = ray.wait(refs, num_returns=len(refs), timeout=timeout)
        for ref in done:
            if ref in self._ready:
                slot = self._ready.pop(ref)
                try:
                    info = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    self._lost(slot, f"actor died while starting: {one_line(exc)}")
                    continue
                if "fatal" in info:
                    raise UserError(info["fatal"])
                self._idle.add(slot)
            else:
                slot, job = self._calls.pop(ref)
                try:
                    out.append((job, ray.get(ref), None))
                    self._idle.add(slot)
                except ray.exceptions.RayError as exc:  # actor killed, node lost, object lost
                    out.append((job, None, f"Ray worker lost ({type(exc).__name__})"))
                    self._lost(slot, str(exc))
        return out

    def _lost(self, slot: int, why: str) -> None:
        self._restarts += 1
        if self._restarts > 10 * self.slots:
            raise UserError(f"Ray workers keep dying ({' '.join(why.split())[:200]})")
        try:
            self._ray.kill(self._actors[slot])
        except Exception:  # noqa: BLE001  (already gone)
            pass
        self._new_actor(slot)

    def close(self, abort: bool = False) -> None:
        for actor in self._actors:
            if actor is not None:
                try:
                    self._ray.kill(actor)
                except Exception:  # noqa: BLE001
                    pass
        self._actors, self._calls, self._ready, self._idle = [], {}, {}, set()
        self.shutdown()

    def shutdown(self) -> None:
        if self._ray.is_initialized():
            self._ray.shutdown()
