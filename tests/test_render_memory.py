"""`streamproc render` of a long file runs in the memory of a short one.

A child process renders a short file (so every library is loaded, every thread started and
every engine built), then caps its data segment (RLIMIT_DATA: heap and private writable
mappings, not the address space that onnxruntime and numba reserve) a little above what it
holds, and renders a file whose samples alone need several times that headroom. Streaming
must pass, with its peak resident memory (VmHWM) all but unchanged; the in-memory path
(read the whole file, render the array, write it) must fail under the same cap, which shows
the cap binds.
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
RATE, CHANNELS, MINUTES = 16000, 2, 4
HEADROOM = 20 << 20          # the samples as float64 need 61 MB, 2.9 x this

CHILD = r"""
import resource, sys
from streamproc.cli import main

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) << 10

mode, short, long_, out, headroom = sys.argv[1:6]
render = ["--task", "resynth", "--recon", "mask", "--quiet"]
assert main(["render", short, out + ".warm.flac", *render]) == 0
data, hwm = status("VmData"), status("VmHWM")
resource.setrlimit(resource.RLIMIT_DATA, (data + int(headroom), resource.getrlimit(resource.RLIMIT_DATA)[1]))
if mode == "stream":
    rc = main(["render", long_, out, *render])
else:  # what rendering did before it streamed: the whole file in memory
    from streamproc.audio_io import read_audio, write_audio
    from streamproc.render import render_array
    from streamproc.tasks import resolve
    try:
        x, rate = read_audio(long_)
        write_audio(__import__("pathlib").Path(out), render_array(x, rate, resolve("resynth", "mask", "quality")), rate)
        rc = 0
    except MemoryError:
        rc = 99
print("rc", rc, "hwm_growth", status("VmHWM") - hwm)
"""


def _tone_file(path: Path, seconds: float) -> Path:
    rng = np.random.default_rng(0)
    n, step = int(seconds * RATE), 10 * RATE
    with sf.SoundFile(str(path), "w", RATE, CHANNELS, "PCM_16") as f:
        for i in range(0, n, step):
            t = np.arange(i, min(i + step, n)) / RATE
            f.write(np.stack([0.3 * np.sin(2 * np.pi * 440 * t),
                              0.2 * np.sin(2 * np.pi * 330 * t) + 0.01 * rng.standard_normal(len(t))], 1))
    return path


def _child(mode: str, short: Path, long_: Path, out: Path) -> tuple[int, int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p = subprocess.run([sys.executable, "-c", CHILD, mode, str(short), str(long_), str(out), str(HEADROOM)],
                       env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and "Traceback" not in p.stderr, p.stderr[-2000:]
    words = p.stdout.split()
    return int(words[words.index("rc") + 1]), int(words[words.index("hwm_growth") + 1])


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_long_render_fits_where_the_in_memory_render_does_not(tmp_path):
    short = _tone_file(tmp_path / "short.wav", 3)
    long_ = _tone_file(tmp_path / "long.wav", MINUTES * 60)
    assert MINUTES * 60 * RATE * CHANNELS * 8 > 2.5 * HEADROOM

    out = tmp_path / "long-out.flac"
    rc, growth = _child("stream", short, long_, out)
    assert rc == 0 and sf.info(str(out)).frames == MINUTES * 60 * RATE
    assert growth < HEADROOM // 2, f"peak RSS grew by {growth >> 20} MB for a {MINUTES}-minute file"

    rc, _ = _child("memory", short, long_, tmp_path / "mem-out.flac")
    assert rc == 99, "the cap did not bind: the in-memory render passed under it"
    assert not (tmp_path / "mem-out.flac").exists()


def test_pitch_csv_of_an_hour_is_written_in_pieces(tmp_path):
    """The writer's own allocations stay far below the hour's text (360 000 rows, ~5 MB; as one
    list of lines and one string it took ~30 MB)."""
    import tracemalloc

    from streamproc.pitch import PitchTrack, write_csv

    n = 360_000
    f0 = np.where(np.arange(n) % 7 > 1, 220.0 + np.arange(n) % 300, 0.0)
    track = PitchTrack(np.arange(n) * 0.01, f0, np.zeros(n), 16000, "test", f0)
    tracemalloc.start()
    write_csv(track, tmp_path / "hour.csv")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    text = (tmp_path / "hour.csv").read_text()
    assert text.startswith("time,f0\n0.000,0\n") and text.count("\n") == n + 1
    assert peak < 4 << 20 < len(text), f"{peak >> 20} MB traced for a {len(text) >> 20} MB file"
