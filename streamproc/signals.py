"""SIGTERM and SIGHUP handled like Ctrl-C, so ``timeout``, ``kill`` or a closed terminal clean up.

Python turns SIGINT into KeyboardInterrupt and unwinds, which removes every temporary file
(:mod:`streamproc.audio_io`) and stops a live stream; the default action of SIGTERM and
SIGHUP kills the process on the spot instead. Inside :func:`interrupts` they raise
:class:`Terminated`, a KeyboardInterrupt that remembers its signal, so the same clean-up
runs and the command can exit with the shell's status for that signal (128 + its number).
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


def _raise(signum: int, frame) -> None:
    raise Terminated(signum)


@contextmanager
def interrupts() -> Iterator[None]:
    """SIGTERM and SIGHUP raise :class:`Terminated` while inside (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = {s: signal.signal(s, _raise) for s in HANDLED}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
