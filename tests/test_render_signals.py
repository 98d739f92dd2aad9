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


def test_signal_while_the_encoder_opens_leaves_no_temporary(tmp_path, monkeypatch):
    """The window the ``start`` case above hits by chance: the temporary exists, the encoder is
    still opening (lame takes a while), and no ``with`` guards the writer yet."""
    from streamproc import audio_io

    def opening(*args, **kwargs):
        raise KeyboardInterrupt("SIGTERM")

    monkeypatch.setattr(audio_io.sf, "SoundFile", opening)
    with pytest.raises(KeyboardInterrupt):
        audio_io.AudioWriter(tmp_path / "out.mp3", 44100, 2)
    assert not _temporaries(tmp_path) and not audio_io._TEMPORARIES


def test_remove_temporaries_finds_what_no_owner_guarded(tmp_path):
    from streamproc import audio_io

    made = audio_io._temp_beside(tmp_path / "out.flac")  # as if a signal struck right after
    assert Path(made).exists() and made in audio_io._TEMPORARIES
    audio_io.remove_temporaries()
    assert not _temporaries(tmp_path) and not audio_io._TEMPORARIES


def test_deferred_holds_a_signal_until_the_step_is_whole():
    from streamproc.signals import Terminated, deferred, interrupts

    steps = []
    with pytest.raises(Terminated):
        with interrupts():
            with deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(0.05)
                steps.append("finished")
    assert steps == ["finished"]
