"""SIGTERM and SIGHUP handled like Ctrl-C, so ``timeout``, ``kill`` or a closed terminal clean up.

Python turns SIGINT into KeyboardInterrupt and unwinds, which removes every temporary file
(:mod:`streamproc.audio_io`) and stops a live stream; the default action of SIGTERM and
SIGHUP kills the process on the spot instead. Inside :func:`interrupts` they raise
:class:`Terminated`, a KeyboardInterrupt that remembers its signal, so the same clean-up
runs and the command can exit with the shell's status for that signal (128 + its number).
:func:`deferred` holds them back across a step that must not be cut in half (a temporary file
created and recorded); whatever a signal still catches half-done, the command's last step
(``audio_io.remove_temporaries``) sweeps away.
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator

HANDLED = tuple(s for s in (getattr(signal, "SIGTERM", None), getattr(signal, "SIGHUP", None)) if s is not None)


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by ``signum``."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def exit_status(exc: KeyboardInterrupt) -> int:
    """The shell's convention: 128 + the signal number (130 for Ctrl-C)."""
    return 128 + getattr(exc, "signum", signal.SIGINT)


_held: list[int] = []      # depth of :func:`deferred` blocks now open (main thread)
_pending: list[int] = []   # signals that arrived inside them


def _stop(signum: int) -> KeyboardInterrupt:
    return KeyboardInterrupt() if signum == signal.SIGINT else Terminated(signum)


def _raise(signum: int, frame) -> None:
    if _held:
        _pending.append(signum)
        return
    raise _stop(signum)


@contextmanager
def deferred() -> Iterator[None]:
    """Inside :func:`interrupts`, a signal that arrives here is held back and raised on leaving,
    so a step such as "create a temporary file and record it" is never cut in half. Signals
    reach only the main thread, so elsewhere this is a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _held.append(1)
    try:
        yield
    finally:
        _held.pop()
        if not _held and _pending:
            signum = _pending[0]
            _pending.clear()
            raise _stop(signum)


@contextmanager
def interrupts() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Terminated` while inside, and :func:`deferred` may hold
    them and Ctrl-C back (main thread only; elsewhere a no-op). A SIGINT that the caller ignores
    (a batch worker) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    ours = [*HANDLED] + ([signal.SIGINT] if signal.getsignal(signal.SIGINT) is signal.default_int_handler else [])
    old = {s: signal.signal(s, _raise) for s in ours}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
