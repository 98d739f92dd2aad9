"""Malformed inputs, generated from a seed: random bytes, truncated and corrupted headers of
every input format, odd channel counts and rates. Each ends in exactly one error line and
exit 2 with nothing written, or in a correct render; never a traceback, never a partial file."""
import io

import numpy as np
import pytest
import soundfile as sf

from streamproc.audio_io import AUDIO_EXTENSIONS, MAX_CHANNELS, MAX_RATE, MIN_RATE
from streamproc.cli import main

SEED = 20261203
FORMATS = {".wav": ("WAV", "PCM_16"), ".flac": ("FLAC", "PCM_16"), ".ogg": ("OGG", "VORBIS"),
           ".mp3": ("MP3", "MPEG_LAYER_III"), ".aiff": ("AIFF", "PCM_16"), ".aif": ("AIFF", "PCM_24")}
MAGIC = {".wav": b"RIFF", ".flac": b"fLaC", ".ogg": b"OggS", ".mp3": b"ID3\x04", ".aiff": b"FORM", ".aif": b"FORM"}


def test_every_input_format_is_fuzzed():
    assert set(AUDIO_EXTENSIONS) <= set(FORMATS)


def _encode(ext: str, x: np.ndarray, rate: int) -> bytes:
    fmt, subtype = FORMATS[ext]
    buf = io.BytesIO()
    sf.write(buf, x, rate, subtype=subtype, format=fmt)
    return buf.getvalue()


def _cases(ext: str, rng: np.random.Generator):
    """(name, bytes) of one format's malformed files."""
    t = np.arange(4800) / 16000
    good = _encode(ext, 0.3 * np.sin(2 * np.pi * 440 * t), 16000)
    yield "good", good
    for n in (0, 1, 7, 44, 300, 5000):
        yield f"random{n}", rng.bytes(n)
    for n in sorted({1, 4, 8, 12, 20, 36, 44, 60, 100, len(good) // 3, len(good) // 2, len(good) - 1}):
        yield f"cut{n}", good[:n]
    for k in range(4):
        b = bytearray(good)
        for i in rng.integers(0, min(64, len(b)), size=3):
            b[i] = int(rng.integers(0, 256))
        yield f"flip{k}", bytes(b)
    yield "magic+random", MAGIC[ext] + rng.bytes(2000)
    yield "good+junk", good + rng.bytes(3000)


@pytest.mark.parametrize("ext", sorted(FORMATS))
def test_malformed_files(tmp_path, capfd, ext):
    rng = np.random.default_rng([SEED, sorted(FORMATS).index(ext)])
    for name, data in _cases(ext, rng):
        _check_one(tmp_path / name, ext, data, capfd)


def _odd_files():
    """(name, ext, samples, rate) of valid files with unusual shapes."""
    yield "3ch", ".wav", 3, 16000
    yield "7ch", ".flac", 7, 22050
    yield "64ch", ".wav", MAX_CHANNELS, 8000
    yield "65ch", ".wav", MAX_CHANNELS + 1, 16000
    yield "5ch-ogg", ".ogg", 5, 44100
    for rate in (1, 100, MIN_RATE - 1, MIN_RATE, 11025, 96000, MAX_RATE, MAX_RATE + 1, 384000):
        yield f"rate{rate}", ".wav", 1, rate
    yield "mp3-8k", ".mp3", 2, 8000


@pytest.mark.parametrize("name,ext,channels,rate", list(_odd_files()))
def test_odd_channels_and_rates(tmp_path, capfd, name, ext, channels, rate):
    n = max(1, rate // 10)
    x = 0.2 * np.random.default_rng(SEED).standard_normal((n, channels))
    _check_one(tmp_path / name, ext, _encode(ext, x, rate), capfd,
               expect_ok=MIN_RATE <= rate <= MAX_RATE and channels <= MAX_CHANNELS)


def _check_one(folder, ext, data, capfd, expect_ok=None):
    """``capfd``: what reaches file descriptor 2, C libraries' output included."""
    folder.mkdir()
    src = folder / f"in{ext}"
    src.write_bytes(data)
    out = folder / "out.wav"
    rc = main(["render", str(src), str(out), "--task", "resynth", "--recon", "mask", "--quiet"])
    err = capfd.readouterr().err.strip()
    left = sorted(p.name for p in folder.iterdir())
    assert src.read_bytes() == data, folder.name
    if rc == 2:
        assert err.startswith("streamproc: error:") and "\n" not in err, (folder.name, err)
        assert "does not exist" not in err, (folder.name, err)
        assert left == [src.name], (folder.name, left)
        assert expect_ok is not True, (folder.name, err)
        return
    # a success may carry notes (a quiet file lifted for the models), never an error
    assert rc == 0 and all(line.startswith("streamproc: note: ") for line in err.splitlines()), (folder.name, rc, err)
    assert expect_ok is not False, folder.name
    assert left == sorted([src.name, out.name]), (folder.name, left)
    info, got = sf.info(str(src)), sf.info(str(out))
    assert got.channels == info.channels and got.samplerate == max(info.samplerate, 16000)
    decoded = len(sf.read(str(src), always_2d=True)[0])
    assert got.frames == round(decoded * got.samplerate / info.samplerate), folder.name
