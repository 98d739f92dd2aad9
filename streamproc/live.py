"""Live processing on a sounddevice stream: the callback only moves audio, a worker thread computes.

Input blocks go from the callback into one ring buffer; the worker runs them through the
processor (``Processor.process_block``, the same input checks as everywhere) and fills a second
ring buffer from which the callback plays. The output ring starts with a pre-buffer of silence:
the engine's declared latency plus one block (the callback must hand over block k before the
worker has seen input block k) plus a margin for the worker's jitter. PortAudio holds one more
callback block on output (measured through JACK, with JACK periods of 256 and of 1024), so
every input sample leaves the output port exactly ``latency_samples`` after it reached the
input port, as long as the worker keeps up; when it does not, the callback plays silence and
counts an underflow, and input that does not fit counts as an overflow. The host's own xruns
(PortAudio's status flags) are counted beside them.

Where the system allows it (Linux, a user with realtime privileges, as JACK itself asks for),
the worker raises itself to round-robin realtime scheduling at a low priority, below the audio
server's threads and above every ordinary process: a busy machine then delays it by little more
than the audio callbacks' own time. Elsewhere it stays an ordinary thread (the report says which).
"""
from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import asdict, dataclass

import numpy as np

from .processor import Processor
from .ringbuffer import RingBuffer

HOST_BLOCKS = 1  # callback blocks PortAudio buffers on output, beyond the ring's pre-buffer


WORKER_RT_PRIORITY = 1  # the lowest realtime priority: above ordinary processes, below audio servers


def request_realtime(priority: int = WORKER_RT_PRIORITY) -> bool:
    """Round-robin realtime scheduling for the calling thread, if permitted (Linux applies
    ``sched_setscheduler(0, ...)`` to the calling thread only)."""
    setter = getattr(os, "sched_setscheduler", None)
    if setter is None:
        return False
    try:
        setter(0, os.SCHED_RR, os.sched_param(priority))
        return True
    except OSError:  # not permitted: an ordinary thread
        return False


def prebuffer_samples(blocksize: int, samplerate: int, margin_ms: float) -> int:
    """Output the worker keeps ahead of the callback: one block plus the margin for its jitter."""
    return int(blocksize) + int(round(margin_ms * samplerate / 1000))


def heard_latency_samples(engine_latency: int, blocksize: int, samplerate: int, margin_ms: float) -> int:
    """Input port to output port: engine + pre-buffer + PortAudio's output block(s)."""
    return engine_latency + prebuffer_samples(blocksize, samplerate, margin_ms) + HOST_BLOCKS * int(blocksize)


@dataclass
class LiveStats:
    underflows: int = 0               # the worker was late: the callback played silence
    overflows: int = 0                # a ring was full: input dropped
    host_input_overflows: int = 0     # PortAudio: input lost before the callback got it
    host_output_underflows: int = 0   # PortAudio: the device ran out of output (a gap heard)
    host_input_underflows: int = 0
    host_output_overflows: int = 0
    nonfinite_samples: int = 0        # NaN or infinite input samples played as zeros
    callbacks: int = 0
    status_flags: int = 0             # callbacks with any PortAudio status flag set
    worker_max_ms: float = 0.0
    worker_realtime: bool = False     # the worker got realtime scheduling
    frames_in: int = 0
    first_input_time: float | None = None  # stream clock time of the first input sample (s)

    def count_status(self, status) -> None:
        """Tally PortAudio's callback flags (a ``sounddevice.CallbackFlags``)."""
        self.status_flags += 1
        self.host_input_overflows += bool(status.input_overflow)
        self.host_output_underflows += bool(status.output_underflow)
        self.host_input_underflows += bool(status.input_underflow)
        self.host_output_overflows += bool(status.output_overflow)

    def line(self) -> str:
        return (f"underflows {self.underflows}  overflows {self.overflows}  "
                f"host xruns: input overflows {self.host_input_overflows}, "
                f"output underflows {self.host_output_underflows}  "
                f"nonfinite {self.nonfinite_samples}  callbacks {self.callbacks}  "
                f"worker max {self.worker_max_ms:.1f} ms")


class LiveLoop:
    """Runs a Processor on a full-duplex stream. Use as a context manager or start/stop."""

    def __init__(self, processor: Processor, samplerate: int, blocksize: int = 256, channels: int = 1,
                 input_device=None, output_device=None, margin_ms: float | None = None,
                 realtime: bool = True) -> None:
        """``realtime``: ask for realtime scheduling for the worker (granted or not, it runs)."""
        self.processor = processor
        self.realtime = realtime
        self.samplerate, self.blocksize, self.channels = int(samplerate), int(blocksize), int(channels)
        self.input_device, self.output_device = input_device, output_device
        processor.prepare(self.samplerate, self.blocksize, self.channels)
        self.engine_latency = processor.latency_samples
        if margin_ms is None:
            margin_ms = processor.spec.profile.live_margin_ms
        self.prebuffer_samples = prebuffer_samples(self.blocksize, self.samplerate, margin_ms)
        self.host_block_samples = HOST_BLOCKS * self.blocksize
        # input port to output port: what a listener hears, less the sound card's own buffering
        self.latency_samples = heard_latency_samples(self.engine_latency, self.blocksize, self.samplerate, margin_ms)
        silence = self.engine_latency + self.prebuffer_samples
        cap = 4 * (silence + 8 * self.blocksize)
        self._in = RingBuffer(cap, self.channels)
        self._out = RingBuffer(cap, self.channels)
        self._out.write(np.zeros((silence, self.channels), np.float32))
        self.stats = LiveStats()
        self._nonfinite0 = processor.nonfinite_samples
        self._wake = threading.Event()
        self._running = False
        self._worker: threading.Thread | None = None
        self._stream = None
        self._switch_interval: float | None = None
        self.device_latency: tuple[int, int] | None = None  # PortAudio's (input, output), samples
        self.error: BaseException | None = None

    # -- audio thread ------------------------------------------------------------------
    def callback(self, indata, outdata, frames, time_info, status) -> None:
        st = self.stats
        if st.callbacks == 0:
            st.first_input_time = float(time_info.inputBufferAdcTime)
        st.callbacks += 1
        if status:
            st.count_status(status)
        if self._in.write(indata) < frames:
            st.overflows += 1
        got = self._out.read_into(outdata)
        if got < frames:
            outdata[got:] = 0.0
            st.underflows += 1
        self._wake.set()

    # -- worker thread -----------------------------------------------------------------
    def _work(self) -> None:
        if self.realtime:
            self.stats.worker_realtime = request_realtime()
        try:
            while self._running:
                self._wake.wait(0.05)
                self._wake.clear()
                while self._in.available:
                    block = self._in.read()
                    t = time.perf_counter()
                    out = self.processor.process_block(block.T).T  # (frames, channels) in and out
                    self.stats.worker_max_ms = max(self.stats.worker_max_ms, 1e3 * (time.perf_counter() - t))
                    self.stats.frames_in += len(block)
                    self.stats.nonfinite_samples = self.processor.nonfinite_samples - self._nonfinite0
                    if self._out.write(out) < len(out):
                        self.stats.overflows += 1
        except BaseException as exc:  # surfaced by stop(); the callback keeps playing silence
            self.error = exc

    # -- control -----------------------------------------------------------------------
    def warm_up(self) -> None:
        """Run a second of silence through the processor (JIT and cache loading), then reset it."""
        silence = np.zeros((self.channels, self.blocksize), np.float32)
        for _ in range(self.samplerate // self.blocksize):
            self.processor.process_block(silence)
        self.processor.reset()

    def start_worker(self) -> None:
        """The worker thread alone (``start`` runs it beside the stream; a test may drive ``callback``)."""
        self._running = True
        self._worker = threading.Thread(target=self._work, name="streamproc-worker", daemon=True)
        self._worker.start()

    def open(self) -> "LiveLoop":
        """Open the device stream (not started). Before any thread exists, so a device the host
        refuses (unknown, too many channels, a rate it does not run) raises and leaves nothing behind."""
        import sounddevice as sd

        if self._stream is None:
            stream = sd.Stream(samplerate=self.samplerate, blocksize=self.blocksize,
                               channels=self.channels, dtype="float32", callback=self.callback,
                               device=(self.input_device, self.output_device))
            self._stream = stream
            lin, lout = stream.latency
            self.device_latency = (int(round(lin * self.samplerate)), int(round(lout * self.samplerate)))
        return self

    def start(self) -> "LiveLoop":
        self.open()
        try:
            self.warm_up()
            # the callback needs the GIL: don't let the worker's Python code hold it for the
            # default 5 ms switch interval, which is a whole period at 256 samples / 48 kHz
            self._switch_interval = sys.getswitchinterval()
            sys.setswitchinterval(min(self._switch_interval, 0.0005))
            self.start_worker()
            assert self._stream is not None  # open() made it
            self._stream.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> LiveStats:
        stream, self._stream = self._stream, None
        try:
            if stream is not None:
                stream.stop()
                stream.close()
        finally:
            self._running = False
            self._wake.set()
            if self._worker is not None:
                self._worker.join(timeout=5)
                self._worker = None
            if self._switch_interval is not None:
                sys.setswitchinterval(self._switch_interval)
                self._switch_interval = None
        if self.error is not None:
            raise self.error
        return self.stats

    def __enter__(self) -> "LiveLoop":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def ms(self, samples: int) -> float:
        return 1e3 * samples / self.samplerate

    def latency_line(self) -> str:
        """What the console shows at start: the heard latency and what it is made of."""
        line = (f"latency {self.latency_samples} samples ({self.ms(self.latency_samples):.1f} ms) from input "
                f"to output port: engine {self.ms(self.engine_latency):.1f} + pre-buffer "
                f"{self.ms(self.prebuffer_samples):.1f} + host block {self.ms(self.host_block_samples):.1f} ms")
        if self.device_latency is not None:
            lin, lout = self.device_latency
            line += (f"; PortAudio puts the device's own at {self.ms(lin):.1f} ms in, "
                     f"{self.ms(lout):.1f} ms out (the host block included)")
        return line

    def report(self) -> dict:
        host = {}
        if self.device_latency is not None:
            host = {"device_input_latency_samples": self.device_latency[0],
                    "device_output_latency_samples": self.device_latency[1]}
        return {**host, "samplerate": self.samplerate, "blocksize": self.blocksize, "channels": self.channels,
                "latency_samples": self.latency_samples, "latency_ms": self.ms(self.latency_samples),
                "engine_latency_samples": self.engine_latency, "prebuffer_samples": self.prebuffer_samples,
                "host_block_samples": self.host_block_samples, **asdict(self.stats)}
