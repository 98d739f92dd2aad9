"""Every bad-input line of the render command: one-line error, exit 2, no output, input untouched."""
import hashlib
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf

from streamproc.cli import main


def _sha(p):
    return hashlib.sha1(p.read_bytes()).hexdigest()


def _write(path, x, sr):
    subtype = "FLOAT" if str(path).endswith(".wav") else None
    sf.write(str(path), np.asarray(x).T if np.ndim(x) == 2 else x, sr, subtype=subtype)
    return path


@pytest.fixture
def clip(tmp_path, tone):
    return _write(tmp_path / "in.wav", tone(16000, 0.5), 16000)


def _fails(capsys, argv, needle, out=None):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    assert err.startswith("streamproc: error:") and needle in err, err
    if out is not None:
        assert not out.exists()
        assert not list(out.parent.glob(f".{out.name}.*"))  # no temporary left behind


def test_render_works_and_keeps_length_and_channels(tmp_path, tone):
    src = _write(tmp_path / "st.flac", np.stack([tone(22050, 0.7), tone(22050, 0.7, 5)]), 22050)
    out = tmp_path / "out.wav"
    assert main(["render", str(src), str(out), "--task", "resynth", "--block", "333"]) == 0
    y, sr = sf.read(out, always_2d=True)
    assert out.stat().st_mode & 0o044  # readable by others as usual, not mkstemp's 0600
    assert sr == 22050 and y.shape == (int(0.7 * 22050), 2)


def test_missing_file(tmp_path, capsys):
    out = tmp_path / "o.wav"
    _fails(capsys, ["render", str(tmp_path / "nope.wav"), str(out), "--task", "resynth"], "not found", out)


def test_directory(tmp_path, capsys):
    d = tmp_path / "d.wav"
    d.mkdir()
    out = tmp_path / "o.wav"
    _fails(capsys, ["render", str(d), str(out), "--task", "resynth"], "directory", out)


def test_corrupt_file(tmp_path, capsys):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    h = _sha(bad)
    out = tmp_path / "o.wav"
    _fails(capsys, ["render", str(bad), str(out), "--task", "resynth"], "cannot read", out)
    text = tmp_path / "notes.mp3"
    text.write_text("this is not audio\n" * 50)
    _fails(capsys, ["render", str(text), str(out), "--task", "resynth"], "cannot read", out)
    assert _sha(bad) == h


def test_unsupported_extensions(tmp_path, clip, capsys):
    odd = tmp_path / "in.xyz"
    odd.write_bytes(clip.read_bytes())
    out = tmp_path / "o.wav"
    _fails(capsys, ["render", str(odd), str(out), "--task", "resynth"], "unsupported input format", out)
    _fails(capsys, ["render", str(clip), str(tmp_path / "o.txt"), "--task", "resynth"],
           "unsupported output format", tmp_path / "o.txt")


def test_zero_length_audio(tmp_path, capsys):
    empty = _write(tmp_path / "empty.wav", np.zeros(0), 16000)
    out = tmp_path / "o.wav"
    _fails(capsys, ["render", str(empty), str(out), "--task", "resynth"], "no audio samples", out)


def test_shorter_than_one_frame_succeeds_padded(tmp_path):
    short = _write(tmp_path / "short.wav", 0.1 * np.ones(100), 16000)
    out = tmp_path / "o.wav"
    assert main(["render", str(short), str(out), "--task", "resynth"]) == 0
    assert sf.info(str(out)).frames == 100


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_nonfinite_samples_are_rejected(tmp_path, tone, capsys, value):
    x = tone(16000, 0.3)
    x[50] = value
    src = _write(tmp_path / "nan.wav", x, 16000)
    out = tmp_path / "o.wav"
    _fails(capsys, ["render", str(src), str(out), "--task", "resynth"], "NaN or infinite", out)


def test_many_channels(tmp_path, tone, capsys):
    ten = _write(tmp_path / "ten.wav", np.stack([tone(16000, 0.2, s) for s in range(10)]), 16000)
    out = tmp_path / "o.wav"
    assert main(["render", str(ten), str(out), "--task", "resynth"]) == 0
    assert sf.info(str(out)).channels == 10
    many = _write(tmp_path / "many.wav", np.zeros((65, 100)), 16000)
    _fails(capsys, ["render", str(many), str(tmp_path / "m.wav"), "--task", "resynth"],
           "65 channels", tmp_path / "m.wav")


@pytest.mark.parametrize("rate,out_rate", [(4000, 16000), (8000, 16000), (192000, 192000)])
def test_sample_rates_4k_to_192k(tmp_path, tone, rate, out_rate):
    src = _write(tmp_path / f"r{rate}.wav", tone(rate, 0.3), rate)
    out = tmp_path / "o.wav"
    assert main(["render", str(src), str(out), "--task", "resynth"]) == 0
    info = sf.info(str(out))
    assert info.samplerate == out_rate and info.frames == round(len(tone(rate, 0.3)) * out_rate / rate)


def test_rate_outside_range(tmp_path, capsys):
    src = _write(tmp_path / "low.wav", np.zeros(1000), 2000)
    _fails(capsys, ["render", str(src), str(tmp_path / "o.wav"), "--task", "resynth"],
           "outside the supported", tmp_path / "o.wav")


def test_output_equal_to_input(clip, capsys):
    h = _sha(clip)
    assert main(["render", str(clip), str(clip), "--task", "resynth"]) == 2
    assert "is the input" in capsys.readouterr().err
    assert _sha(clip) == h


def test_output_folder_missing(tmp_path, clip, capsys):
    out = tmp_path / "nowhere" / "o.wav"
    _fails(capsys, ["render", str(clip), str(out), "--task", "resynth"], "folder does not exist", out)


def test_unknown_task(tmp_path, clip, capsys):
    _fails(capsys, ["render", str(clip), str(tmp_path / "o.wav"), "--task", "karaoke"],
           "unknown task", tmp_path / "o.wav")


@pytest.mark.parametrize("block", ["0", "-5", "ten"])
def test_bad_block_size(tmp_path, clip, capsys, block):
    _fails(capsys, ["render", str(clip), str(tmp_path / "o.wav"), "--task", "resynth", "--block", block],
           "--block", tmp_path / "o.wav")


def test_console_script_exit_status(tmp_path):
    r = subprocess.run([sys.executable, "-m", "streamproc", "render", str(tmp_path / "x.wav"),
                        str(tmp_path / "y.wav"), "--task", "resynth"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


@pytest.mark.parametrize("ext", [".ogg", ".mp3", ".flac"])
def test_reads_compressed_formats(tmp_path, tone, ext):
    src = tmp_path / f"in{ext}"
    sf.write(str(src), tone(44100, 0.5), 44100)
    out = tmp_path / f"out{ext}"
    assert main(["render", str(src), str(out), "--task", "resynth", "--quiet"]) == 0
    assert sf.info(str(out)).samplerate == 44100


def test_models_and_bench_commands(capsys):
    assert main(["models"]) == 0
    assert "task resynth" in capsys.readouterr().out
    assert main(["bench", "--rate", "16000", "--blocks", "4096"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("resynth")]
    from streamproc.tasks import RECONS

    assert {r[1] for r in rows} == set(RECONS["resynth"])
    assert all(0 < float(r[5]) < float("inf") for r in rows)  # a real-time factor was measured (speed: bench/)
    assert main(["bench", "--task", "nosuch"]) == 2


def test_demo_runs_every_task_on_the_bundled_examples(tmp_path):
    """README's first command: every task, no user files, with the shipped models."""
    out = tmp_path / "demo"
    assert main(["demo", str(out)]) == 0
    for name in ("separate-violin.wav", "superres.wav", "synth.wav", "synth-blueprint.wav", "pitch-sonified.wav"):
        y, rate = sf.read(str(out / name))
        assert rate == 16000 and len(y) > 16000 and np.max(np.abs(y)) > 1e-3, name
    for name in ("separate.png", "separate-overlay.png", "superres.png", "synth.png", "pitch.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    assert (out / "melody-f0.csv").read_text().splitlines()[0] == "time,f0"
    assert (out / "melody-notes.mid").stat().st_size > 0
    (tmp_path / "file").write_text("x")
    assert main(["demo", str(tmp_path / "file")]) == 2
