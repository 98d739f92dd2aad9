"""Real-time factor, per-block worker time, latency and cold start of the streaming engine.

Shared by ``streamproc bench`` and ``python -m bench.rtf``. Audio streams block by block
through a Processor with ``reset=False``, as a host's worker thread would call it:
RTF = processing time / audio duration, and each block's time is what the live worker spends
on it, to be compared with the block period (block / rate). Latency is the engine's declared
one (exact by construction, see ``streamproc.engine``). The task model's own share is timed
apart (``model_rtf``: the wall time inside its runs over the audio's duration), so a budget for
the model alone can be checked on the pipeline as it really runs it.
"""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from .live import request_realtime, heard_latency_samples
from .processor import Processor

EXAMPLES = Path(__file__).parent / "examples"
EXAMPLE = EXAMPLES / "violin.flac"
# the bundled clip that suits each task; a missing one falls back to EXAMPLE
TASK_CLIPS = {"separate": "duet.flac", "superres": "lofi.flac", "synth": "blueprint.flac",
              "pitch": "melody.flac"}


def task_clip(task: str) -> Path:
    """The bundled example a task is benchmarked on (what it would be given in use)."""
    path = EXAMPLES / TASK_CLIPS.get(task, EXAMPLE.name)
    return path if path.is_file() else EXAMPLE


def load_clip(path: Path, rate: int, seconds: float | None = None) -> np.ndarray:
    """First channel of ``path`` at ``rate``, looped or cut to ``seconds`` when given."""
    import soxr

    from .audio_io import read_audio

    x, sr = read_audio(path)
    x = soxr.resample(x[0], sr, rate) if sr != rate else x[0]
    return np.resize(x, int(round(seconds * rate))) if seconds else x


class ModelClock:
    """Wall time spent inside a frame model's runs, whichever thread makes them."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.runs = 0

    def reset(self) -> None:
        self.seconds, self.runs = 0.0, 0


@contextmanager
def model_clock(model) -> Iterator[ModelClock]:
    """Times every ``model.run`` and ``model.run_columns`` while the block is open (the methods
    are wrapped on the instance and put back after); a task without a model gets a clock that
    stays at zero."""
    clock = ModelClock()
    if model is None:
        yield clock
        return
    wrapped = [name for name in ("run", "run_columns") if callable(getattr(model, name, None))]

    def timed(inner: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
        def call(*args: Any) -> np.ndarray:
            t = time.perf_counter()
            try:
                return inner(*args)
            finally:
                clock.seconds += time.perf_counter() - t
                clock.runs += 1
        return call

    for name in wrapped:
        setattr(model, name, timed(getattr(model, name)))
    try:
        yield clock
    finally:
        for name in wrapped:
            delattr(model, name)


def measure(task: str, recon: str, rate: int, block: int, x: np.ndarray, model=None,
            profile: str = "default", paced: bool | None = None, level: str | None = None) -> dict:
    """Streams ``x`` (at ``rate``) in ``block``-sample calls; timing of each call and in total.

    ``rtf`` is the calls' summed wall time over the audio's duration; ``cpu_rtf`` is this
    process's CPU time (all threads, model workers included), which a busy machine inflates
    less. One warm-up pass first (Numba cache, allocations, ONNX session).

    ``paced`` (default: for a profile whose models run on worker threads, ``live``): each call
    starts at its block's due time, as in ``streamproc live``. Unpaced, the calls come as fast
    as the machine allows, so a block waits for a model run that, live, had a whole hop of real
    time to finish: that wait is an artefact of running faster than real time. A paced run also
    raises the calling thread to realtime round-robin scheduling where permitted, as
    ``streamproc live`` raises its worker (``realtime`` in the row), and lowers it after.
    ``level``: the Processor's (None: the task's default, as ``streamproc live`` runs it)."""
    fx = Processor(task, recon, model=model, profile=profile, level=level)
    if paced is None:
        low = fx.spec.profile.low_delay
        paced = low is not None and low.model_delay > 0
    with model_clock(fx.frame_model) as clock:
        fx.process(x[: rate // 2], rate, buffer_size=block, reset=False)
        fx.reset()
        clock.reset()
        times = []
        period = block / rate
        realtime = bool(paced) and request_realtime()
        try:
            c0, t0 = time.process_time(), time.perf_counter()
            for k, i in enumerate(range(0, len(x), block)):
                if paced:
                    wait = t0 + k * period - time.perf_counter()
                    if wait > 0:
                        time.sleep(wait)
                t = time.perf_counter()
                fx.process(x[i:i + block], rate, buffer_size=block, reset=False)
                times.append(time.perf_counter() - t)
            cpu = time.process_time() - c0
            fx.reset()   # a worker thread's last run is in before the clock is read
        finally:
            if realtime:
                os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    ms = 1e3 * np.array(times)
    dur = len(x) / rate
    heard = heard_latency_samples(fx.latency_samples, block, rate, fx.spec.profile.live_margin_ms)
    return {"task": task, "recon": fx.recon, "profile": profile, "rate": rate, "block": block, "paced": paced,
            "realtime": realtime,
            "seconds": dur, "blocks": len(times), "rtf": float(sum(times)) / dur, "cpu_rtf": cpu / dur,
            "model_rtf": clock.seconds / dur, "model_runs": clock.runs,
            "block_ms_p50": float(np.percentile(ms, 50)), "block_ms_p99": float(np.percentile(ms, 99)),
            "block_ms_max": float(ms.max()), "block_period_ms": 1e3 * block / rate,
            "latency_samples": fx.latency_samples, "latency_ms": 1e3 * fx.latency_samples / rate,
            "heard_ms": 1e3 * heard / rate}


HEADER = (f"{'task':8s} {'recon':7s} {'profile':11s} {'rate':>6s} {'block':>5s} {'rtf':>7s} {'cpu rtf':>7s} "
          f"{'model':>7s} {'p50 ms':>7s} {'p99 ms':>7s} {'max ms':>7s} {'period':>7s} {'latency ms':>10s} "
          f"{'heard ms':>8s}")


def row_line(r: dict) -> str:
    """One row under ``HEADER``; ``model`` is the task model's own RTF (``model_rtf``)."""
    return (f"{r['task']:8s} {r['recon']:7s} {r['profile']:11s} {r['rate']:6d} {r['block']:5d} {r['rtf']:7.4f} "
            f"{r['cpu_rtf']:7.4f} {r.get('model_rtf', float('nan')):7.4f} "
            f"{r['block_ms_p50']:7.3f} {r['block_ms_p99']:7.3f} {r['block_ms_max']:7.3f} "
            f"{r['block_period_ms']:7.3f} {r['latency_ms']:10.1f} {r.get('heard_ms', float('nan')):8.1f}")


# Run in a fresh interpreter: import, build the task's processor with its shipped model, then
# stream 256-sample blocks of a harmonic tone, reporting the first block's return and the first
# block that yields output (every stage, model and Griffin-Lim included, has run by then).
_COLD = """
import sys
import numpy as np
from streamproc import Processor
task, model, rate, block = sys.argv[1], sys.argv[2] or None, int(sys.argv[3]), int(sys.argv[4])
fx = Processor(task, model=model)
t = np.arange(10 * rate) / rate
x = 0.2 * sum(np.sin(2 * np.pi * 440 * k * t) / k for k in range(1, 6))
fx.process(x[:block], rate, buffer_size=block, reset=False)
print("first_block", flush=True)
for i in range(block, len(x), block):
    if len(fx.process(x[i:i + block], rate, buffer_size=block, reset=False)):
        break
print("first_output", flush=True)
"""


def cold_start(task: str, model: str | Path | None = None, rate: int = 48000, block: int = 256,
               repeats: int = 3, timeout: float = 300.0) -> dict:
    """Wall seconds from launching a fresh Python to (a) the first block returning and (b) the
    first block with output; medians over ``repeats`` launches, every run kept."""
    runs = []
    for _ in range(repeats):
        with tempfile.TemporaryFile("w+") as err:
            t0 = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-c", _COLD, task, str(model or ""), str(rate), str(block)],
                                    stdout=subprocess.PIPE, stderr=err, text=True)
            assert proc.stdout is not None  # stdout=PIPE
            marks = {line.strip(): time.perf_counter() - t0 for line in proc.stdout}
            proc.wait(timeout=timeout)
            if proc.returncode or len(marks) != 2:
                err.seek(0)
                last = err.read().strip().splitlines()[-1:]
                raise RuntimeError(f"cold start of {task} failed (exit {proc.returncode}): {' '.join(last)}")
        runs.append(marks)
    return {"task": task, "rate": rate, "block": block, "runs": runs,
            "first_block_s": statistics.median(r["first_block"] for r in runs),
            "first_output_s": statistics.median(r["first_output"] for r in runs)}
