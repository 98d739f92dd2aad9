"""level="auto" for streaming hosts: the models' images follow the input's level and lose its
DC offset, causally, frame by frame; the output keeps the input's level."""
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from streamproc import Processor, dsp
from streamproc.config import DEFAULT
from streamproc.errors import UserError
from streamproc.level import FOLLOW_SECONDS, TARGET_LOUDNESS_DBFS, LevelFollower, LevelMeter
from streamproc.metrics import si_sdr
from streamproc.pitch import track_pitch

EXAMPLES = Path(__file__).resolve().parents[1] / "streamproc" / "examples"


def _example(name: str, seconds: float, peak_dbfs: float) -> tuple[np.ndarray, int]:
    x, rate = sf.read(EXAMPLES / name, dtype="float64")
    x = x[: int(seconds * rate)]
    return x / np.abs(x).max() * 10 ** (peak_dbfs / 20), rate


def _follow(x: np.ndarray, blocks: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Each frame's (DC offset, gain dB) over ``x`` (16 kHz), framed in the given block sizes."""
    from streamproc.stages import StftFramer

    framer = StftFramer(DEFAULT)
    follower = LevelFollower(dsp.windows(DEFAULT)[0], DEFAULT.hop, DEFAULT.sample_rate)
    out, i, k = [], 0, 0
    while i < len(x):
        n = blocks[k % len(blocks)]
        frames = framer.process(x[i:i + n])
        if len(frames):
            out.append(np.stack(follower.measure(frames.stft), axis=1))
        i, k = i + n, k + 1
    both = np.concatenate(out)
    return both[:, 0], both[:, 1]


def test_follower_finds_the_offset_and_the_gain_to_the_target_whatever_the_blocks():
    rate = DEFAULT.sample_rate
    t = np.arange(12 * rate) / rate
    x = 10 ** (-50 / 20) * np.sqrt(2) * np.sin(2 * np.pi * 440 * t) + 0.02   # -50 dBFS RMS, offset 0.02
    dc, gain = _follow(x, [4096])
    settled = slice(len(dc) // 2, None)
    assert dc[settled] == pytest.approx(0.02, abs=1e-4)
    assert gain[-50:] == pytest.approx(TARGET_LOUDNESS_DBFS + 50, abs=0.15)   # the offset does not count as loudness
    dc2, gain2 = _follow(x, [1, 300, 7777])
    assert np.array_equal(dc, dc2) and np.array_equal(gain, gain2)
    meter = LevelMeter(rate, 1)
    meter.push(x[None])
    assert gain[-1] == pytest.approx(TARGET_LOUDNESS_DBFS - meter.loudness_dbfs, abs=0.3)   # the file renderer's gain


def test_follower_leaves_silence_alone_and_forgets_after_its_window():
    rate = DEFAULT.sample_rate
    quiet = 10 ** (-60 / 20) * np.random.default_rng(0).standard_normal(int((FOLLOW_SECONDS + 4) * rate))
    x = np.concatenate([np.zeros(rate), quiet * 1000.0, quiet])   # silence, a loud passage (0 dBFS RMS), a quiet one
    _, gain = _follow(x, [2048])
    hop = DEFAULT.hop
    assert np.all(gain[: rate // hop - 4] == 0.0)
    assert gain[int(5 * rate / hop)] == pytest.approx(TARGET_LOUDNESS_DBFS, abs=0.3)
    assert gain[-1] == pytest.approx(TARGET_LOUDNESS_DBFS + 60, abs=0.3)   # the loud passage has left the window


def test_a_quiet_stream_separates_as_the_same_stream_louder():
    """Processor, level auto: once the follower has its loudness, a stream 20 dB down gives the
    louder stream's output, 20 dB down, whatever the blocks (to 0.25 dB, the follower's
    resolution); off does not (its output is some 25 dB from it)."""
    x, rate = _example("duet.flac", 4.0, -12.0)
    loud = Processor(task="separate", level="auto")(x.astype(np.float32), rate)
    fx = Processor(task="separate", level="auto")
    fx.prepare(rate, 1024)
    quiet = np.concatenate([fx.process_block(b) for b in np.array_split((x * 0.1).astype(np.float32), 37)])
    quiet = np.concatenate([np.zeros(len(x) - len(quiet), np.float32), quiet])  # the latency, as the whole-clip call aligns
    off = Processor(task="separate", level="off")((x * 0.1).astype(np.float32), rate)
    lat = fx.latency_samples
    settled = slice(rate + lat, len(x))
    assert si_sdr(loud[rate:len(x) - lat], 10 * quiet[settled]) > 40.0
    assert si_sdr(loud[rate:], 10 * off[rate:]) < 30.0


def test_a_dc_offset_leaves_the_models_image_and_the_streamed_output():
    """The offset is taken out of the model's image (once the follower has it, the image is the
    clean input's), and the mask, dividing by the spectrum it acts on (offset and all), takes it
    out of the output."""
    from streamproc.features import input_features
    from streamproc.stages import StftFramer, model_input_stage

    x, rate = _example("duet.flac", 4.0, -20.0)
    x16 = x[::3] if rate == 48000 else x   # the image only: any 16 kHz signal will do
    images = []
    for signal in (x16, x16 + 0.05):
        stage = model_input_stage(DEFAULT, input_features("mel", DEFAULT), follow_level=True)
        images.append(stage.process(StftFramer(DEFAULT).process(signal)).features)
    settled = slice(images[0].shape[0] // 2, None)
    assert np.abs(images[0][settled] - images[1][settled]).max() < 0.01   # 0.6 dB

    clean = Processor(task="separate", level="auto")(x.astype(np.float32), rate)
    with_dc = Processor(task="separate", level="auto")((x + 0.05).astype(np.float32), rate)
    off = Processor(task="separate", level="off")((x + 0.05).astype(np.float32), rate)
    tail = slice(2 * rate, None)
    assert abs(float(with_dc[tail].mean() - clean[tail].mean())) < 0.02 * 0.05
    assert si_sdr(clean[tail], with_dc[tail]) > 25.0
    assert si_sdr(clean[tail], with_dc[tail]) > si_sdr(clean[tail], off[tail]) + 1.0


@pytest.mark.parametrize("profile", ["default", "live"])
def test_pitch_streamed_from_a_quiet_input_is_the_loud_ones(profile):
    x, rate = _example("melody.flac", 4.0, -12.0)
    loud = track_pitch(x, rate, profile=profile, follow_level=True)
    quiet = track_pitch(x * 10 ** (-55 / 20), rate, profile=profile, follow_level=True)   # peak -67 dBFS
    off = track_pitch(x * 10 ** (-55 / 20), rate, profile=profile)
    voiced = loud.f0 > 0
    assert voiced.mean() > 0.5
    settled = loud.times > 0.25   # the gain rises for the first frames of the stream (RISE_DB_PER_SECOND)
    agree = (quiet.f0 > 0) == voiced
    assert agree[settled].mean() > 0.99
    assert (off.f0 > 0).sum() < 0.8 * voiced.sum()   # as it is, most of it is taken for the noise floor


def test_live_profile_follows_the_level():
    x, rate = _example("duet.flac", 3.0, -12.0)
    loud = Processor(task="separate", profile="live", level="auto")(x.astype(np.float32), rate)
    quiet = Processor(task="separate", profile="live", level="auto")((x * 0.1).astype(np.float32), rate)
    off = Processor(task="separate", profile="live", level="off")((x * 0.1).astype(np.float32), rate)
    settled = slice(rate, None)
    assert si_sdr(loud[settled], 10 * quiet[settled]) > 38.0
    assert si_sdr(loud[settled], 10 * off[settled]) < 30.0


def test_a_bad_level_is_a_user_error_and_off_is_the_default():
    with pytest.raises(UserError, match="level"):
        Processor(task="resynth", level="loud")
    assert Processor(task="separate").level == "off" and not Processor(task="separate").spec.follow_level
    assert Processor(task="pitch").level == "auto" and Processor(task="superres").spec.follow_level
    assert Processor(task="pitch", profile="live").level == "auto"
    assert Processor(task="superres", profile="live").level == "off"   # it measured better as it is there, when loud
    assert not Processor(task="resynth", level="auto").spec.follow_level   # no model, nothing to follow for


def test_live_takes_level_and_refuses_a_bad_one():
    import subprocess
    import sys

    from streamproc.cli import build_parser

    assert build_parser().parse_args(["live", "--task", "pitch", "--level", "auto"]).level == "auto"
    assert build_parser().parse_args(["live", "--task", "pitch"]).level is None   # the task's default
    r = subprocess.run([sys.executable, "-m", "streamproc", "live", "--task", "pitch", "--level", "loud",
                        "--duration", "1"], capture_output=True, text=True)
    assert r.returncode == 2 and "--level" in r.stderr and "Traceback" not in r.stderr
