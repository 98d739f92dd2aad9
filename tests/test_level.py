"""--level auto: every file reaches the models as loud as their training audio, and comes back at its own."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from streamproc.audio_io import AudioReader
from streamproc.batch.work import Settings, check_settings
from streamproc.errors import UserError
from streamproc.level import (MAX_GAIN_DB, MAX_PEAK_DBFS, TARGET_LOUDNESS_DBFS, LevelMeter, below_training,
                              level_gain_db)
from streamproc.metrics import score
from streamproc.render import FileRenderer
from streamproc.tasks import resolve

EXAMPLES = Path(__file__).resolve().parents[1] / "streamproc" / "examples"


def _example(name: str, seconds: float, peak_dbfs: float) -> tuple[np.ndarray, int]:
    x, rate = sf.read(EXAMPLES / name, dtype="float64", always_2d=True)
    x = x[: int(seconds * rate)].T
    return x / np.abs(x).max() * 10 ** (peak_dbfs / 20), rate


def test_gain_brings_the_loudness_to_the_target_within_limits():
    assert level_gain_db(0.01, -63.0) == pytest.approx(TARGET_LOUDNESS_DBFS + 63)
    assert level_gain_db(1.0, -8.0) == pytest.approx(TARGET_LOUDNESS_DBFS + 8)   # a loud master comes down
    assert level_gain_db(10 ** (-30 / 20), -120.0) == pytest.approx(MAX_PEAK_DBFS + 30)  # a blip in silence
    assert level_gain_db(1e-9, -200.0) == MAX_GAIN_DB and level_gain_db(1e9, 170.0) == -MAX_GAIN_DB
    assert level_gain_db(0.0, float("-inf")) == 0.0
    assert level_gain_db(1e-3, -80.0, "off") == 0.0
    assert below_training(-30.0) and below_training(float("-inf")) and not below_training(-20.0)
    with pytest.raises(ValueError, match="level"):
        level_gain_db(0.5, -20.0, "loud")


def test_loudness_ignores_clicks_and_block_sizes():
    """A quiet passage with a few full-scale clicks measures as the passage; any blocking gives
    the same figures."""
    rate = 44100
    t = np.arange(10 * rate) / rate
    x = np.stack([0.01 * np.sin(2 * np.pi * 440 * t), 0.01 * np.sin(2 * np.pi * 660 * t)])
    clicks = x.copy()
    clicks[:, ::rate // 2] = 1.0   # two clicks a second
    results = []
    for signal, blocks in ((x, [4096]), (clicks, [4096]), (clicks, [1, 777, 100000]), (x + 0.3, [4096])):
        m = LevelMeter(rate, 2)
        i = k = 0
        while i < signal.shape[1]:
            n = blocks[k % len(blocks)]
            m.push(signal[:, i:i + n])
            i, k = i + n, k + 1
        results.append((m.peak, m.loudness_dbfs))
    assert results[0][1] == pytest.approx(20 * np.log10(0.01 / np.sqrt(2)), abs=0.1)
    assert results[1][0] == pytest.approx(1.0, abs=1e-3) and results[1][1] == pytest.approx(results[0][1], abs=0.5)
    assert results[2] == pytest.approx(results[1], abs=1e-9)
    assert results[3] == pytest.approx(results[0], abs=1e-6)   # an offset moves neither figure


def test_reader_peak_spans_every_channel_and_every_format(tmp_path):
    x = np.zeros((2, 5000))
    x[1, 4321], x[0, 17] = -0.25, 0.125   # each channel's mean is its offset: the peak is taken about it
    for subtype, name in (("FLOAT", "f.wav"), ("PCM_24", "i.wav")):
        sf.write(tmp_path / name, x.T, 16000, subtype=subtype)
        with AudioReader(tmp_path / name) as r:
            assert r.dc == pytest.approx([0.125 / 5000, -0.25 / 5000], abs=1e-7)
            assert r.peak == pytest.approx(0.25 - 0.25 / 5000, abs=1e-6)


def _render_loud_quiet_off(tmp_path, task: str, example: str):
    """The example peaking at -12 dBFS and 40 dB below it, rendered with auto, and the quiet one
    with off; outputs as (channels, samples), the quiet ones brought back up 40 dB."""
    x, rate = _example(example, 2.0, -12.0)
    for name, gain in (("loud", 1.0), ("quiet", 0.01)):
        sf.write(tmp_path / f"{name}.wav", (x * gain).T, rate, subtype="FLOAT")
    spec = resolve(task, None, "default")
    renderer = FileRenderer(spec)
    reports = [renderer.render(tmp_path / f"{n}.wav", tmp_path / f"{n}-out.wav") for n in ("loud", "quiet")]
    FileRenderer(spec, level="off").render(tmp_path / "quiet.wav", tmp_path / "off-out.wav")
    gains = [r.extra["level_gain_db"] for r in reports]
    assert gains[1] - gains[0] == pytest.approx(40.0)
    loud, quiet, off = (sf.read(tmp_path / f"{n}-out.wav", dtype="float64", always_2d=True)[0].T
                        for n in ("loud", "quiet", "off"))
    return loud, 100 * quiet, 100 * off


def test_a_quiet_file_separates_exactly_as_the_same_file_louder(tmp_path):
    """separate/mask keeps the mixture's phase: raised by exactly the 40 dB it lacks, the quiet
    file's output is the louder file's, 40 dB down. Off, the models hear it as it is."""
    loud, quiet, off = _render_loud_quiet_off(tmp_path, "separate", "duet.flac")
    scale = np.abs(loud).max()
    assert np.abs(quiet - loud).max() < 1e-3 * scale
    assert np.abs(off - loud).max() > 0.05 * scale


def test_a_quiet_file_gets_the_same_upper_band(tmp_path):
    """superres's upper band takes Griffin-Lim phases, which a float32 rounding of the input
    already moves (LSD 0.22 between the two waveforms): compare spectra, against off's."""
    loud, quiet, off = _render_loud_quiet_off(tmp_path, "superres", "lofi.flac")
    assert score(loud, quiet, 16000)["lsd"] < 0.5
    assert score(loud, off, 16000)["lsd"] > 1.0


def test_pitch_track_of_a_quiet_recording_is_the_loud_ones(tmp_path):
    x, rate = _example("melody.flac", 3.0, -12.0)
    sf.write(tmp_path / "loud.wav", x.T, rate, subtype="FLOAT")
    sf.write(tmp_path / "quiet.wav", (x * 10 ** (-45 / 20)).T, rate, subtype="FLOAT")
    spec = resolve("pitch", None, "default")
    FileRenderer(spec).render(tmp_path / "loud.wav", tmp_path / "loud.csv")
    FileRenderer(spec).render(tmp_path / "quiet.wav", tmp_path / "quiet.csv")
    FileRenderer(spec, level="off").render(tmp_path / "quiet.wav", tmp_path / "off.csv")
    loud, quiet, off = (np.loadtxt(tmp_path / f"{n}.csv", delimiter=",", skiprows=1) for n in ("loud", "quiet", "off"))
    voiced = loud[:, 1] > 0
    assert voiced.mean() > 0.5
    assert np.array_equal(quiet[:, 1] > 0, voiced)
    assert np.allclose(quiet[voiced, 1], loud[voiced, 1], rtol=1e-3)
    assert (off[:, 1] > 0).sum() < 0.8 * voiced.sum()   # the models took most of it for the noise floor


def test_pitch_notes_keep_the_input_level(tmp_path):
    """The gain lifts a quiet file for the model only: its MIDI velocities stay those of its level."""
    x, rate = _example("melody.flac", 3.0, -12.0)
    sf.write(tmp_path / "loud.wav", x.T, rate, subtype="FLOAT")
    sf.write(tmp_path / "quiet.wav", (x * 10 ** (-24 / 20)).T, rate, subtype="FLOAT")
    spec = resolve("pitch", None, "default")
    velocities = {}
    for name in ("loud", "quiet"):
        FileRenderer(spec).render(tmp_path / f"{name}.wav", tmp_path / f"{name}.json")
        notes = json.loads((tmp_path / f"{name}.json").read_text())["notes"]
        velocities[name] = np.array([n["velocity"] for n in notes])
    assert len(velocities["loud"]) >= 3 and len(velocities["quiet"]) == len(velocities["loud"])
    assert np.allclose(velocities["loud"] - velocities["quiet"], 127 * 24 / 60, atol=1.5)   # 24 dB down


def test_a_hot_file_is_brought_down_for_the_models_and_back_up(tmp_path):
    """A file peaking at 0 dBFS is rendered as the same file 12 dB down would be, then 12 dB up."""
    x, rate = _example("duet.flac", 2.0, 0.0)
    sf.write(tmp_path / "hot.wav", x.T, rate, subtype="FLOAT")
    sf.write(tmp_path / "down.wav", (x * 10 ** (-12 / 20)).T, rate, subtype="FLOAT")
    renderer = FileRenderer(resolve("separate", None, "default"))
    hot_report = renderer.render(tmp_path / "hot.wav", tmp_path / "hot-out.wav")
    down_report = renderer.render(tmp_path / "down.wav", tmp_path / "down-out.wav")
    assert hot_report.extra["level_gain_db"] < -5.0
    assert hot_report.extra["level_gain_db"] == pytest.approx(down_report.extra["level_gain_db"] - 12.0)
    hot = sf.read(tmp_path / "hot-out.wav", dtype="float64")[0]
    down = sf.read(tmp_path / "down-out.wav", dtype="float64")[0] * 10 ** (12 / 20)
    assert np.abs(hot - down).max() < 1e-3 * np.abs(hot).max()


def test_a_dc_offset_is_removed_before_the_models(tmp_path):
    """A file with a constant offset per channel renders as the file without it (both measured
    alike: the meter's peak and loudness ignore the offset); off keeps the offset's harm."""
    x, rate = _example("duet.flac", 2.0, -30.0)
    x = x - x.mean(axis=1, keepdims=True)
    sf.write(tmp_path / "clean.wav", x.T, rate, subtype="FLOAT")
    sf.write(tmp_path / "dc.wav", (x + 0.05).T, rate, subtype="FLOAT")
    renderer = FileRenderer(resolve("separate", None, "default"))
    clean_report = renderer.render(tmp_path / "clean.wav", tmp_path / "clean-out.wav")
    dc_report = renderer.render(tmp_path / "dc.wav", tmp_path / "dc-out.wav")
    FileRenderer(resolve("separate", None, "default"), level="off").render(tmp_path / "dc.wav", tmp_path / "off-out.wav")
    assert dc_report.extra["dc_offset"] == pytest.approx([0.05], abs=1e-6)
    assert dc_report.extra["level_gain_db"] == pytest.approx(clean_report.extra["level_gain_db"], abs=1e-6)
    clean, dc, off = (sf.read(tmp_path / f"{n}-out.wav", dtype="float64")[0] for n in ("clean", "dc", "off"))
    assert np.abs(dc - clean).max() < 1e-3 * np.abs(clean).max()
    assert np.abs(off - clean).max() > 0.1 * np.abs(clean).max()


def test_level_is_checked_before_any_work(tmp_path):
    with pytest.raises(UserError, match="level"):
        FileRenderer(resolve("resynth", "mask", "quality"), level="loud")
    with pytest.raises(UserError, match="--level"):
        check_settings(Settings(task="resynth", level="loud"))
    src = tmp_path / "in.wav"
    sf.write(src, np.zeros(1600), 16000)
    r = subprocess.run([sys.executable, "-m", "streamproc", "render", str(src), str(tmp_path / "o.wav"),
                        "--task", "resynth", "--level", "loud"], capture_output=True, text=True)
    assert r.returncode == 2 and "--level" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o.wav").exists()


def test_track_pitch_level_auto_tracks_a_quiet_array_as_the_file_renderer_does(tmp_path):
    from streamproc.pitch import track_pitch

    x, rate = _example("melody.flac", 3.0, -12.0)
    quiet = x[0] * 10 ** (-45 / 20) + 0.01   # 45 dB down, with an offset
    sf.write(tmp_path / "quiet.wav", quiet, rate, subtype="FLOAT")
    FileRenderer(resolve("pitch", None, "quality")).render(tmp_path / "quiet.wav", tmp_path / "quiet.csv")
    from_file = np.loadtxt(tmp_path / "quiet.csv", delimiter=",", skiprows=1)
    auto, off = track_pitch(quiet, rate, level="auto"), track_pitch(quiet, rate)
    assert auto.voiced.mean() > 0.5
    assert np.array_equal(auto.voiced, from_file[:, 1] > 0)
    assert np.allclose(auto.f0[auto.voiced], from_file[auto.voiced, 1], rtol=1e-3)
    assert off.voiced.sum() < 0.8 * auto.voiced.sum()
    assert np.median(auto.level_db[auto.voiced]) < -45.0   # the input's level, not the models'
    with pytest.raises(UserError, match="level must be one of"):
        track_pitch(quiet, rate, level="loud")
