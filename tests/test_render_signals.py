"""SIGTERM and SIGHUP (``timeout``, ``kill``, a closed terminal) stop a render cleanly: the
shell's exit status for the signal, one line, no traceback, no output and no temporary left."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
RATE, SECONDS = 44100, 60


@pytest.fixture(scope="module")
def long_input(tmp_path_factory):
    path = tmp_path_factory.mktemp("sig") / "long.flac"
    t = np.arange(RATE * SECONDS) / RATE
    x = np.stack([0.3 * np.sin(2 * np.pi * 440 * t), 0.2 * np.sin(2 * np.pi * 550 * t)], 1)
    sf.write(str(path), x, RATE, subtype="PCM_16")
    return path


def _temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("ext,sig,when", [(".mp3", "SIGTERM", "start"), (".mp3", "SIGHUP", "encoding"),
                                          (".flac", "SIGHUP", "start"), (".flac", "SIGTERM", "encoding")])
def test_signal_during_render_leaves_nothing(tmp_path, long_input, ext, sig, when):
    """``start``: as soon as the output's temporary is open (models loading, first blocks);
    ``encoding``: once the encoder has written a good part of it."""
    out = tmp_path / f"out{ext}"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "streamproc", "render", str(long_input), str(out),
                             "--task", "resynth", "--recon", "mask", "--quiet"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    need = 0 if when == "start" else 64 << 10
    t0 = time.monotonic()
    while True:
        tmp = _temporaries(tmp_path)
        try:
            if tmp and tmp[0].stat().st_size >= need:
                break
        except FileNotFoundError:
            pass
        assert proc.poll() is None, f"finished before the signal: {proc.communicate()}"
        assert time.monotonic() - t0 < 60, "no temporary output appeared"
        time.sleep(0.01)
    proc.send_signal(getattr(signal, sig))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + getattr(signal, sig), err
    assert err.strip() == f"streamproc: interrupted ({sig})"
    assert not out.exists() and not _temporaries(tmp_path)
