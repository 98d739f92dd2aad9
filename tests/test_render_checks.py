"""The remaining validation lines of the file commands, each run through the command line:
one line on stderr, exit 2, nothing written (no output, no temporary, no picture); and the
messages that must say what is wrong (silent estimate, clipping, a MIDI note left on)."""
import os
import stat
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf

from streamproc.cli import main

from conftest import harmonic_tone


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def _refused(capsys, argv, needle, folder):
    """Exit 2, one error line containing ``needle``, ``folder`` as it was."""
    before = _files(folder)
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("streamproc: error:") and "\n" not in err and needle in err, err
    assert _files(folder) == before


@pytest.fixture
def clip(tmp_path):
    return _wav(tmp_path / "in.wav", harmonic_tone(16000, 0.4), 16000)


def _wav(path, x, rate):
    sf.write(str(path), np.asarray(x).T if np.ndim(x) == 2 else x, rate, subtype="FLOAT")
    return path


@pytest.mark.parametrize("channels,rate,out,extra,needle", [
    (16, 16000, "o.flac", [], "flac holds at most 8 channels; the output has 16 (write wav instead)"),
    (3, 16000, "o.mp3", [], "mp3 holds at most 2 channels; the output has 3"),
    (1, 96000, "o.mp3", [], "mp3 cannot be written at 96000 Hz"),
    (1, 16000, "o.mp3", ["--out-rate", "96000"], "mp3 cannot be written at 96000 Hz"),
])
def test_output_format_must_hold_channels_and_rate(tmp_path, capsys, channels, rate, out, extra, needle):
    x = np.stack([harmonic_tone(rate, 0.2, k) for k in range(channels)])
    src = _wav(tmp_path / "in.wav", x, rate)
    _refused(capsys, ["render", str(src), str(tmp_path / out), "--task", "resynth", "--quiet", *extra],
             needle, tmp_path)


@pytest.mark.parametrize("ext", [".wav", ".aiff", ".aif", ".ogg"])
def test_formats_that_hold_many_channels(tmp_path, ext):
    x = np.stack([harmonic_tone(16000, 0.2, k) for k in range(16)])
    out = tmp_path / f"o{ext}"
    assert main(["render", str(_wav(tmp_path / "in.wav", x, 16000)), str(out), "--task", "resynth", "--quiet"]) == 0
    info = sf.info(str(out))
    assert (info.channels, info.samplerate, info.frames) == (16, 16000, x.shape[1])


@pytest.fixture
def read_only_folder(tmp_path):
    """A folder no file can be created in: a chmod 555 one, or for root (who ignores modes) /sys."""
    if os.geteuid() == 0:
        if not os.path.isdir("/sys") or os.access("/sys", os.W_OK) and _can_create("/sys"):
            pytest.skip("no read-only folder for root here")
        yield Path("/sys")
        return
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(stat.S_IRUSR | stat.S_IXUSR)
    yield ro
    ro.chmod(stat.S_IRWXU)


def _can_create(folder):
    try:
        os.close(os.open(os.path.join(folder, ".streamproc-probe"), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except OSError:
        return False
    os.unlink(os.path.join(folder, ".streamproc-probe"))
    return True


def test_read_only_output_folder(tmp_path, capsys, clip, read_only_folder):
    ro = read_only_folder
    _refused(capsys, ["render", str(clip), str(ro / "o.wav"), "--task", "resynth"], f"cannot write into folder {ro}", ro)
    _refused(capsys, ["pitch", str(clip), str(ro / "o.csv")], f"cannot write into folder {ro}", ro)
    _refused(capsys, ["render", str(clip), str(tmp_path / "o.wav"), "--task", "resynth",
                      "--plot", str(ro / "p.png")], f"cannot write into folder {ro}", tmp_path)
    _refused(capsys, ["compare", str(clip), str(clip), "--plot", str(ro / "p.png")], "cannot write into folder", ro)


def test_long_output_names(tmp_path, capsys, clip):
    """A name the file system takes is written (the temporary beside it may need a shorter name);
    one it does not take is refused before any work."""
    limit = os.pathconf(tmp_path, "PC_NAME_MAX")
    for n in (240, limit):
        out = tmp_path / ("x" * (n - 4) + ".wav")
        assert main(["render", str(clip), str(out), "--task", "resynth", "--quiet"]) == 0, capsys.readouterr().err
        assert sf.info(str(out)).frames == sf.info(str(clip)).frames
        out.unlink()
    _refused(capsys, ["render", str(clip), str(tmp_path / ("x" * (limit - 3) + ".wav")), "--task", "resynth"],
             f"at most {limit}", tmp_path)
    _refused(capsys, ["render", str(clip), str(tmp_path / "o.wav"), "--task", "resynth",
                      "--plot", str(tmp_path / ("p" * (limit - 3) + ".png"))], f"at most {limit}", tmp_path)


def test_plot_into_an_unwritable_or_missing_folder_fails_first(tmp_path, capsys, clip):
    (tmp_path / "file").write_text("a file, not a folder")
    for plot in (tmp_path / "nope" / "p.png", tmp_path / "file" / "p.png"):
        _refused(capsys, ["render", str(clip), str(tmp_path / "o.wav"), "--task", "resynth", "--plot", str(plot)],
                 "", tmp_path)
        _refused(capsys, ["compare", str(clip), str(clip), "--plot", str(plot)], "", tmp_path)
        _refused(capsys, ["pitch", str(clip), str(tmp_path / "o.csv"), "--plot", str(plot)], "", tmp_path)


def test_reference_may_not_be_the_input_or_output_by_identity(tmp_path, capsys, clip):
    out = tmp_path / "o.wav"
    assert main(["render", str(clip), str(out), "--task", "resynth", "--quiet"]) == 0
    os.link(out, tmp_path / "hard.wav")
    os.symlink(clip, tmp_path / "sym.wav")
    base = ["render", str(clip), str(out), "--task", "resynth", "--quiet", "--reference"]
    before = out.read_bytes()
    for ref, needle in ((out, "is the output file"), (tmp_path / "hard.wav", "is the output file"),
                        (clip, "is the input file"), (tmp_path / "sym.wav", "is the input file"),
                        (tmp_path / "." / "in.wav", "is the input file")):
        _refused(capsys, [*base, str(ref)], needle, tmp_path)
    assert out.read_bytes() == before


@pytest.mark.parametrize("argv,needle", [
    (["render", "IN", "OUT", "--task", "resynth", "--out-rate", "1"], "--out-rate must be within 4000-192000 Hz, got 1"),
    (["render", "IN", "OUT", "--task", "resynth", "--out-rate", "1e9"],
     "--out-rate must be within 4000-192000 Hz, got 1000000000"),
    (["render", "IN", "OUT", "--task", "resynth", "--out-rate", "44100.5"], "--out-rate must be a whole number"),
    (["bench", "--rate", "10000000"], "--rate must be within 4000-192000 Hz, got 10000000"),
    (["live", "--task", "resynth", "--duration", "-1"], "--duration must be a positive"),
    (["live", "--task", "resynth", "--duration", "nan"], "--duration must be a positive"),
    (["synth", "IN", "OUT", "--harmonics", "0"], "--harmonics must be a positive number of harmonics"),
])
def test_argument_ranges(tmp_path, capsys, clip, argv, needle):
    argv = [str(clip) if a == "IN" else str(tmp_path / "o.wav") if a == "OUT" else a for a in argv]
    _refused(capsys, argv, needle, tmp_path)


def test_a_folder_as_output(tmp_path, capsys, clip):
    (tmp_path / "d").mkdir()
    for argv in (["render", str(clip), str(tmp_path / "d"), "--task", "resynth"],
                 ["pitch", str(clip), str(tmp_path / "d")]):
        _refused(capsys, argv, f"output {tmp_path / 'd'} is a folder; name a file in it", tmp_path)


def test_compare_against_a_silent_estimate_says_so(tmp_path, capsys, clip):
    silent = _wav(tmp_path / "silent.wav", np.zeros(sf.info(str(clip)).frames), 16000)
    assert main(["compare", str(clip), str(silent)]) == 0
    out = capsys.readouterr().out
    assert "undefined: the estimate is silent" in out and "0.00 dB" not in out


def test_output_over_full_scale_is_counted(tmp_path, capsys):
    x = 1.6 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    src = _wav(tmp_path / "loud.wav", x, 16000)
    assert main(["render", str(src), str(tmp_path / "o.wav"), "--task", "resynth", "--recon", "mask", "--quiet"]) == 0
    err = capsys.readouterr().err
    n = int(err.split("note: ")[1].split()[0])
    y = sf.read(str(tmp_path / "o.wav"))[0]
    assert n > 1000 and "exceeded full scale and were clipped" in err
    assert np.abs(y).max() <= 1.0 and n == pytest.approx(int((np.abs(y) >= 1.0 - 2 ** -22).sum()), rel=0.05)


def _midi_without_note_off(path, tail_s=1.0):
    """A4 from 0.0 to 0.5 s, then C5 switched on at 0.5 s and never off; the file ends tail_s later."""
    mid = mido.MidiFile(ticks_per_beat=480)  # 120 bpm: 960 ticks a second
    tr = mido.MidiTrack()
    tr += [mido.Message("program_change", program=40, time=0), mido.Message("note_on", note=69, velocity=90, time=0),
           mido.Message("note_on", note=69, velocity=0, time=480),  # velocity 0: A4's note-off
           mido.Message("note_on", note=72, velocity=90, time=0),
           mido.MetaMessage("end_of_track", time=int(tail_s * 960))]
    mid.tracks.append(tr)
    mid.save(str(path))
    return path


def test_a_note_without_note_off_ends_with_the_file(tmp_path, capsys):
    from streamproc.blueprint import melody_from_midi

    mel = melody_from_midi(_midi_without_note_off(tmp_path / "m.mid"))
    assert mel[:, 2].tolist() == [69, 72]
    assert mel[1, 0] == pytest.approx(0.5) and mel[1, 1] == pytest.approx(1.5)
    out = tmp_path / "o.wav"
    assert main(["synth", str(tmp_path / "m.mid"), str(out), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert "1 note without a note-off (C5 at 0.50 s) ends at the end of the file (1.50 s)" in err
    assert sf.info(str(out)).duration == pytest.approx(1.5 + 0.5, abs=0.01)


def test_a_note_left_on_at_the_very_end_says_what_is_wrong(tmp_path, capsys):
    only = mido.MidiFile(ticks_per_beat=480)
    only.tracks.append(mido.MidiTrack([mido.Message("note_off", note=50, velocity=0, time=0),  # stray: ignored
                                       mido.Message("note_on", note=72, velocity=90, time=0),
                                       mido.MetaMessage("end_of_track", time=0)]))
    only.save(str(tmp_path / "only.mid"))
    _refused(capsys, ["synth", str(tmp_path / "only.mid"), str(tmp_path / "o.wav")],
             "has a note-on (C5 at 0.00 s) without a note-off and nothing after it", tmp_path)
