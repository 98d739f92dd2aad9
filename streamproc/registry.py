"""The tasks and reconstructions the engine knows, each registered with the builder that makes it.

A *task* (``--task``) builds the front of the frame chain, up to and including its model, and
names the reconstructions it offers, its default first. A *reconstruction* (``--recon``) builds
the rest: the frame stages after the model and the synthesiser that turns frames into samples.
``streamproc.tasks.build_core`` joins the two; nothing else branches on a name.

The built-in entries register themselves when ``streamproc.tasks`` is imported (the package's
``__init__`` does so). A new reconstruction is one builder and one ``register_recon`` call; see
the README's developer section and docs/ARCHITECTURE.md.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # types only: this module sits below everything that builds stages
    from .frame_model import FrameModel
    from .spec import TaskSpec

    FrontBuilder = Callable[[TaskSpec, FrameModel], list[Any]]
    ReconBuilder = Callable[[TaskSpec, "FrameModel | None"], tuple[list[Any], Any]]


@dataclass(frozen=True)
class TaskEntry:
    """A task: its reconstructions (default first), what its model outputs, its front builder.

    ``model_output``: ``"mel"`` (a mel image, reconstructed to audio), ``"pitchmap"`` or None (no
    model: the identity stands in). ``needs_model``: no default exists without a trained file."""
    name: str
    recons: tuple[str, ...]
    build_front: "FrontBuilder"
    model_output: str | None = "mel"
    needs_model: bool = True


@dataclass(frozen=True)
class ReconEntry:
    """A reconstruction: ``build(spec, restore_model) -> (frame stages, synthesiser)``."""
    name: str
    build: "ReconBuilder"


_TASKS: dict[str, TaskEntry] = {}
_RECONS: dict[str, ReconEntry] = {}


def register_task(name: str, recons: tuple[str, ...], build_front: "FrontBuilder",
                  model_output: str | None = "mel", needs_model: bool = True) -> TaskEntry:
    """Adds a task (its reconstructions need not be registered yet; ``resolve`` checks them)."""
    if name in _TASKS:
        raise ValueError(f"task {name!r} is already registered")
    if not recons:
        raise ValueError(f"task {name!r} must offer at least one reconstruction")
    entry = TaskEntry(name, tuple(recons), build_front, model_output, needs_model)
    _TASKS[name] = entry
    return entry


def register_recon(name: str, tasks: tuple[str, ...] = ()) -> Callable[["ReconBuilder"], "ReconBuilder"]:
    """Decorator: registers ``build`` as the reconstruction ``name``; ``tasks`` (already
    registered) offer it after their own reconstructions."""
    def add(build: "ReconBuilder") -> "ReconBuilder":
        if name in _RECONS:
            raise ValueError(f"reconstruction {name!r} is already registered")
        _RECONS[name] = ReconEntry(name, build)
        for t in tasks:
            entry = task(t)
            if name not in entry.recons:
                _TASKS[t] = TaskEntry(entry.name, entry.recons + (name,), entry.build_front,
                                      entry.model_output, entry.needs_model)
        return build
    return add


def task(name: str) -> TaskEntry:
    try:
        return _TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}") from None


def recon(name: str) -> ReconEntry:
    try:
        return _RECONS[name]
    except KeyError:
        raise KeyError(f"unknown reconstruction {name!r}") from None


def task_names() -> tuple[str, ...]:
    return tuple(_TASKS)


def model_tasks(output: str | None = None) -> tuple[str, ...]:
    """Tasks that need a trained model (of one output kind if given), in registration order."""
    return tuple(t.name for t in _TASKS.values() if t.needs_model and (output is None or t.model_output == output))


@contextmanager
def scoped() -> Iterator[None]:
    """Registrations made inside are undone on exit (tests and examples that register their own)."""
    tasks, recons, lowdelay = dict(_TASKS), dict(_RECONS), dict(_LOWDELAY)
    try:
        yield
    finally:
        _TASKS.clear()
        _TASKS.update(tasks)
        _RECONS.clear()
        _RECONS.update(recons)
        _LOWDELAY.clear()
        _LOWDELAY.update(lowdelay)


LowDelayBuilder = Callable[..., tuple[list[Any], Any]]  # (spec, host cfg, model, restore model) -> (stages, synthesiser)
_LOWDELAY: dict[str, LowDelayBuilder] = {}


def register_lowdelay_recon(name: str) -> Callable[[LowDelayBuilder], LowDelayBuilder]:
    """Decorator: ``build(spec, host_cfg, model, restore_model=None) -> (stages after the model,
    synthesiser)`` runs reconstruction ``name`` in the low-delay framing of the ``live`` profile
    (``streamproc.lowdelay``); ``restore_model`` overrides the shipped restoration net."""
    def add(build: LowDelayBuilder) -> LowDelayBuilder:
        if name in _LOWDELAY:
            raise ValueError(f"low-delay reconstruction {name!r} is already registered")
        _LOWDELAY[name] = build
        return build
    return add


def lowdelay_recon(name: str) -> LowDelayBuilder:
    try:
        return _LOWDELAY[name]
    except KeyError:
        raise KeyError(f"reconstruction {name!r} has no low-delay builder") from None


def lowdelay_recons() -> tuple[str, ...]:
    return tuple(_LOWDELAY)


class _ReconsView(Mapping):
    """task -> its reconstructions (default first), read live from the registry."""

    def __getitem__(self, name: str) -> tuple[str, ...]:
        return _TASKS[name].recons

    def __iter__(self) -> Iterator[str]:
        return iter(_TASKS)

    def __len__(self) -> int:
        return len(_TASKS)

    def __repr__(self) -> str:
        return repr(dict(self))


RECONS: Mapping[str, tuple[str, ...]] = _ReconsView()
