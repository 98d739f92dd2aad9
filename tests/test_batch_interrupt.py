"""A batch that loses a worker, or is stopped, loses nothing: no partial output, and the same
command finishes the rest with every file done exactly once."""
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf

from streamproc.batch.manifest import MANIFEST_NAME

from conftest import harmonic_tone
from test_batch import leftovers, write

N_FILES, SECONDS = 12, 1.5
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def collection(tmp_path):
    src = tmp_path / "in"
    for i in range(N_FILES):
        write(src / f"part{i % 3}" / f"take{i:02d}.wav", harmonic_tone(16000, SECONDS, i), 16000)
    return src


def _start(src: Path, out: Path, **kw) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "streamproc", "batch", str(src), "--out", str(out), "--task", "resynth",
            "--recon", "wavenet", "--jobs", "2", "--quiet"]  # the slowest pipeline: a window to hit
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _done_records(out: Path) -> list[dict]:
    path = out / MANIFEST_NAME
    if not path.exists():
        return []
    recs = []
    for line in path.read_text().splitlines():
        try:
            recs.append(json.loads(line))
        except ValueError:
            pass
    return [r for r in recs if r["status"] == "done"]


def _wait_for_done(out: Path, proc: subprocess.Popen, n: int, timeout: float = 120.0) -> None:
    """Until n files are done, by both workers (both loaded and busy)."""
    t0 = time.monotonic()
    while len(_done_records(out)) < n or len({r["worker"] for r in _done_records(out)}) < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < timeout, "the batch made no progress"
        time.sleep(0.05)


def _workers(pid: int) -> list[int]:
    """The pool's worker processes (multiprocessing's spawned children of the batch)."""
    kids = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        kids += [int(k) for k in (task / "children").read_text().split()]
    return [k for k in kids if b"spawn_main" in Path(f"/proc/{k}/cmdline").read_bytes()]


def _check_outputs_whole(out: Path) -> list[str]:
    """Every output in the tree is a complete file of the input's length."""
    got = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.wav"))
    for rel in got:
        info = sf.info(str(out / rel))
        assert abs(info.duration - SECONDS) < 1e-3, rel
    return got


def test_killed_worker_mid_batch(collection, tmp_path):
    out = tmp_path / "out"
    proc = _start(collection, out)
    _wait_for_done(out, proc, 2)
    workers = _workers(proc.pid)
    assert len(workers) == 2
    os.kill(workers[0], signal.SIGKILL)  # busy with its next file
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr
    assert f"{N_FILES} done, 0 skipped, 0 failed" in stdout
    done = _done_records(out)
    assert Counter(r["output"] for r in done) == {f"part{i % 3}/take{i:02d}.wav": 1 for i in range(N_FILES)}
    assert len({r["worker"] for r in done}) == 3  # the replacement took over the rest
    assert len(_check_outputs_whole(out)) == N_FILES
    assert not leftovers(out)


@pytest.mark.parametrize("how", ["SIGTERM", "Ctrl-C"])
def test_stopped_batch_resumes_exactly(collection, tmp_path, how):
    out = tmp_path / "out"
    proc = _start(collection, out, start_new_session=True)
    _wait_for_done(out, proc, 2)
    if how == "SIGTERM":
        proc.send_signal(signal.SIGTERM)
    else:  # a terminal's Ctrl-C reaches the batch and all its workers
        os.killpg(proc.pid, signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == (143 if how == "SIGTERM" else 130), stderr
    assert "interrupted" in stdout and "the same command resumes" in stdout
    assert "Traceback" not in stderr
    first = _done_records(out)
    assert 2 <= len(first) < N_FILES
    _check_outputs_whole(out)  # whatever is there is whole
    assert not leftovers(out)

    proc = _start(collection, out)
    stdout, stderr = proc.communicate(timeout=180)
    assert proc.returncode == 0, stderr
    assert f"{N_FILES - len(first)} done, {len(first)} skipped, 0 failed" in stdout
    done = _done_records(out)
    assert Counter(r["output"] for r in done) == {f"part{i % 3}/take{i:02d}.wav": 1 for i in range(N_FILES)}
    assert len(_check_outputs_whole(out)) == N_FILES
    assert not leftovers(out)
