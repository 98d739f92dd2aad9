"""`streamproc live` without a sound card: what is checked before any device is touched, the
heard-latency budget, and the callback's bookkeeping (driven by hand, as PortAudio would).
The runs against a real audio server are in test_live_jack.py."""
import subprocess
import sys
import time
from types import SimpleNamespace

import numpy as np
import pytest

from streamproc import registry
from streamproc.live import LiveLoop
from streamproc.processor import Processor


def _live(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "streamproc", "live", "--task", "resynth", *args],
                          capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("where, message", [("missing/r.json", "does not exist"),
                                            ("a-file/r.json", "is not a folder"),
                                            (".", "is a folder")])
def test_report_folder_is_probed_before_the_live_run(tmp_path, where, message):
    (tmp_path / "a-file").write_text("x")
    r = _live("--duration", "1", "--report", str(tmp_path / where))
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and message in r.stderr and "streamproc live:" not in r.stderr


@pytest.mark.parametrize("task", registry.task_names())
def test_default_profile_is_heard_within_200_ms_at_48_khz_256_blocks(task):
    for recon in registry.task(task).recons:
        loop = LiveLoop(Processor(task, recon), 48000, 256)
        heard_ms = loop.ms(loop.latency_samples)
        assert loop.latency_samples == loop.engine_latency + loop.prebuffer_samples + 256
        assert heard_ms <= 200.0, f"{task}/{recon}: {heard_ms:.1f} ms"


def test_callback_counts_host_xruns_and_the_worker_zeroes_and_counts_nonfinite_input():
    sd = pytest.importorskip("sounddevice")
    fx = Processor("resynth", "mask")
    loop = LiveLoop(fx, 16000, 256)
    flags = {1: 0x2, 4: 0x4, 5: 0x2 | 0x4}  # paInputOverflow, paOutputUnderflow
    x = np.zeros((40 * 256, 1), np.float32)
    x[700], x[701], x[3000] = np.nan, np.inf, -np.inf
    out = np.empty_like(x)
    loop.warm_up()
    loop.start_worker()
    try:
        for k in range(40):
            loop.callback(x[k * 256:(k + 1) * 256], out[k * 256:(k + 1) * 256], 256,
                          SimpleNamespace(inputBufferAdcTime=k / 62.5), sd.CallbackFlags(flags.get(k, 0)))
            time.sleep(0.01)
    finally:
        stats = loop.stop()
    assert (stats.host_input_overflows, stats.host_output_underflows, stats.status_flags) == (2, 2, 3)
    assert stats.nonfinite_samples == 3 and fx.nonfinite_samples == 3
    assert np.all(np.isfinite(out))  # what was played (silence where the worker was late, on a busy machine)
    line = stats.line()
    assert "input overflows 2" in line and "output underflows 2" in line and "nonfinite 3" in line
    report = loop.report()
    assert report["host_input_overflows"] == 2 and report["latency_samples"] == loop.latency_samples


@pytest.mark.parametrize("realtime", [True, False])
def test_the_worker_asks_for_realtime_scheduling_only_when_told_and_reports_what_it_got(realtime):
    import os

    loop = LiveLoop(Processor("resynth", "mask"), 16000, 256, realtime=realtime)
    loop.start_worker()
    try:
        time.sleep(0.05)
        worker = loop._worker
        assert worker is not None
        policy = os.sched_getscheduler(worker.native_id) if hasattr(os, "sched_getscheduler") else None
    finally:
        stats = loop.stop()
    assert loop.report()["worker_realtime"] is stats.worker_realtime
    if not realtime:
        assert stats.worker_realtime is False
    if policy is not None:  # Linux: the thread's policy is what the report says it got
        assert (policy == os.SCHED_RR) is stats.worker_realtime
