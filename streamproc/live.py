"""Live processing on a sounddevice stream: the callback only moves audio, a worker thread computes.

Input blocks go from the callback into one ring buffer; the worker runs the engine on them and
fills a second ring buffer from which the callback plays. The output ring starts with a
pre-buffer of silence: the engine's declared latency plus one block (the callback must hand
over block k before the worker has seen input block k) plus a margin for the worker's jitter.
So every input sample leaves exactly ``latency_samples`` later, as long as the worker keeps
up; when it does not, the callback plays silence and counts an underflow, and input that does
not fit counts as an overflow.
"""
from __future__ import annotations

import sys
import threading
import time
from dataclasses import asdict, dataclass

import numpy as np

from .processor import Processor
from .ringbuffer import RingBuffer


@dataclass
class LiveStats:
    underflows: int = 0
    overflows: int = 0
    callbacks: int = 0
    status_flags: int = 0
    worker_max_ms: float = 0.0
    frames_in: int = 0
    first_input_time: float | None = None  # stream clock time of the first input sample (s)

    def line(self) -> str:
        return (f"underflows {self.underflows}  overflows {self.overflows}  "
                f"callbacks {self.callbacks}  worker max {self.worker_max_ms:.1f} ms")


class LiveLoop:
    """Runs a Processor's engines on a full-duplex stream. Use as a context manager or start/stop."""

    def __init__(self, processor: Processor, samplerate: int, blocksize: int = 256, channels: int = 1,
                 input_device=None, output_device=None, margin_ms: float | None = None) -> None:
        self.processor = processor
        self.samplerate, self.blocksize, self.channels = int(samplerate), int(blocksize), int(channels)
        self.input_device, self.output_device = input_device, output_device
        processor.prepare(self.samplerate, self.blocksize, self.channels)
        self.engine_latency = processor.latency_samples
        if margin_ms is None:
            margin_ms = processor.spec.profile.live_margin_ms
        margin = int(round(margin_ms * self.samplerate / 1000))
        self.latency_samples = self.engine_latency + self.blocksize + margin
        cap = 4 * (self.latency_samples + 8 * self.blocksize)
        self._in = RingBuffer(cap, self.channels)
        self._out = RingBuffer(cap, self.channels)
        self._out.write(np.zeros((self.latency_samples, self.channels), np.float32))
        self.stats = LiveStats()
        self._wake = threading.Event()
        self._running = False
        self._worker: threading.Thread | None = None
        self._stream = None
        self.error: BaseException | None = None

    # -- audio thread ------------------------------------------------------------------
    def callback(self, indata, outdata, frames, time_info, status) -> None:
        st = self.stats
        if st.callbacks == 0:
            st.first_input_time = float(time_info.inputBufferAdcTime)
        st.callbacks += 1
        if status:
            st.status_flags += 1
        if self._in.write(indata) < frames:
            st.overflows += 1
        got = self._out.read_into(outdata)
        if got < frames:
            outdata[got:] = 0.0
            st.underflows += 1
        self._wake.set()

    # -- worker thread -----------------------------------------------------------------
    def _work(self) -> None:
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

    def start(self) -> "LiveLoop":
        import sounddevice as sd

        self.warm_up()
        # the callback needs the GIL: don't let the worker's Python code hold it for the
        # default 5 ms switch interval, which is a whole period at 256 samples / 48 kHz
        self._switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._switch_interval, 0.0005))
        self._running = True
        self._worker = threading.Thread(target=self._work, name="streamproc-worker", daemon=True)
        self._worker.start()
        self._stream = sd.Stream(samplerate=self.samplerate, blocksize=self.blocksize,
                                 channels=self.channels, dtype="float32", callback=self.callback,
                                 device=(self.input_device, self.output_device))
        self._stream.start()
        return self

    def stop(self) -> LiveStats:
        if self._stream is not None:
            self._stream.stop()
            self._stream.close()
            self._stream = None
        self._running = False
        self._wake.set()
        if self._worker is not None:
            self._worker.join(timeout=5)
            sys.setswitchinterval(self._switch_interval)
        if self.error is not None:
            raise self.error
        return self.stats

    def __enter__(self) -> "LiveLoop":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def report(self) -> dict:
        host = {}
        if self._stream is not None:
            lin, lout = self._stream.latency
            host = {"device_input_latency_samples": int(round(lin * self.samplerate)),
                    "device_output_latency_samples": int(round(lout * self.samplerate))}
        return {**host, "samplerate": self.samplerate, "blocksize": self.blocksize, "channels": self.channels,
                "latency_samples": self.latency_samples, "engine_latency_samples": self.engine_latency,
                "latency_ms": 1e3 * self.latency_samples / self.samplerate, **asdict(self.stats)}
