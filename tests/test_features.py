"""The model's input image (``streamproc.features``): the log-frequency image lines up with the
pitch map, the runtime computes the image a model's metadata names, training data and soft
pitch targets carry it, and an unknown kind is refused before any work."""
import json

import numpy as np
import pytest

from streamproc import dsp
from streamproc.config import DEFAULT
from streamproc.errors import UserError
from streamproc.features import audio_features, input_features, logfreq_filterbank, model_input_kind
from streamproc.model_meta import ModelMetadata
from streamproc.pitch import track_pitch
from streamproc.pitchmap import DEFAULT_LAYOUT, decode_pitchmap, midi_to_hz


def _sine(hz: float, seconds: float = 1.0, rate: int = 16000, amp: float = 0.3) -> np.ndarray:
    return amp * np.sin(2 * np.pi * hz * np.arange(int(seconds * rate)) / rate)


class LoudestRowModel:
    """Stand-in log-frequency pitch model: the output map is its input image, whose rows are
    already the pitch map's (a sine's brightest row is its own pitch)."""

    output_kind = "pitchmap"
    input_kind = "logfreq"
    pitch_layout = DEFAULT_LAYOUT
    n_inputs = n_outputs = DEFAULT_LAYOUT.n_bins
    context_frames, new_frames, lookahead_frames = 4, 3, 2

    def run(self, window: np.ndarray) -> np.ndarray:
        out = np.full_like(window, DEFAULT_LAYOUT.off)
        cols = np.arange(window.shape[1])
        r = np.argmax(window, axis=0)
        out[r, cols] = np.where(window[r, cols] > -0.5, DEFAULT_LAYOUT.on, DEFAULT_LAYOUT.off)
        return out


def test_every_logfreq_row_reads_some_bin_and_a_tone_lights_its_own_row():
    bank = logfreq_filterbank(DEFAULT)
    assert bank.shape == (DEFAULT_LAYOUT.n_bins, DEFAULT.n_bins)
    assert np.all(bank.max(axis=1) > 0.4)  # no row falls between FFT bins
    for midi in (45.0, 69.0, 93.5):
        img = audio_features(_sine(float(midi_to_hz(midi))), DEFAULT, "logfreq")
        col = img[:, img.shape[1] // 2]
        assert np.argmax(col) == DEFAULT_LAYOUT.row(midi)
        level = dsp.features_from_mel(np.array([0.3]), DEFAULT)[0]  # the sine's amplitude on the image scale
        assert abs(col.max() - level) < 0.1  # peak-1 triangles: within 6 dB (a Hann lobe spans bins)


def test_the_mel_kind_is_the_log_mel_image():
    x = np.random.default_rng(0).standard_normal(8000) * 0.1
    assert np.array_equal(audio_features(x, DEFAULT), dsp.log_mel_features(x, DEFAULT).astype(np.float32))


@pytest.mark.parametrize("profile", [None, "live"])
def test_tracking_computes_the_image_the_model_reads(profile):
    """A model that reads log-frequency images tracks a sine at its own pitch, in the standard
    and the low-delay framing (a mel image would put its brightest row elsewhere)."""
    midi = 64.0
    tr = track_pitch(_sine(float(midi_to_hz(midi)), 1.5, 48000), 48000, LoudestRowModel(), profile)
    mid = tr.f0[(tr.times > 0.4) & (tr.times < 1.1)]
    assert len(mid) and np.all(mid > 0)
    assert np.max(np.abs(69 + 12 * np.log2(mid / 440.0) - midi)) < 0.3


def test_input_kind_round_trips_and_an_unknown_kind_is_refused():
    meta = ModelMetadata(task="pitch", output_kind="pitchmap", spectral=DEFAULT, n_inputs=128, n_outputs=128,
                         context_frames=40, new_frames=8, lookahead_frames=16, pitch=DEFAULT_LAYOUT,
                         input_kind="logfreq")
    props = meta.to_props()
    assert props["input_kind"] == "logfreq"
    assert ModelMetadata.from_props(props).input_kind == "logfreq"
    mel = {k: v for k, v in props.items() if k != "input_kind"}
    assert ModelMetadata.from_props(mel).input_kind == "mel"  # older files: mel
    with pytest.raises(UserError, match="kind 'cqt'"):
        ModelMetadata.from_props({**props, "input_kind": "cqt"}, "x.onnx")
    assert model_input_kind(object()) == "mel"
    with pytest.raises(UserError):
        input_features("cqt", DEFAULT)


def test_soft_pitch_targets_decode_between_rows():
    from models.data import pitch_map_frames

    midi = np.array([60.0, 60.1, 60.25, 60.4, np.nan])
    hard, soft = pitch_map_frames(midi), pitch_map_frames(midi, sigma=0.5)
    got_hard, v_hard = decode_pitchmap(hard.T, DEFAULT_LAYOUT)
    got, voiced = decode_pitchmap(soft.T, DEFAULT_LAYOUT)
    assert list(voiced) == [True] * 4 + [False] and list(v_hard) == list(voiced)
    assert np.max(np.abs(got[:4] - midi[:4])) < 0.03           # within 3 cents
    assert np.max(np.abs(got_hard[:4] - midi[:4])) > 0.09      # one-hot rows round to 50 cents
    assert np.all(soft[:, 4] == DEFAULT_LAYOUT.off)


def test_pitch_data_records_its_input_kind_and_other_tasks_refuse_it(tmp_path):
    from models import data as D

    with pytest.raises(ValueError, match="needs --task pitch"):
        D.build("separate", 0.1, tmp_path / "s", input_kind="logfreq", progress=False)
    with pytest.raises(ValueError, match="needs --task separate"):
        D.build("pitch", 0.1, tmp_path / "s", input_kind="mel-asym", progress=False)
    with pytest.raises(ValueError, match="kind 'cqt'"):
        D.build("pitch", 0.1, tmp_path / "p", input_kind="cqt", progress=False)
    m = D.build("pitch", 0.25, tmp_path / "p", seconds=5.0, input_kind="logfreq", pitch_sigma=0.5, progress=False)
    assert (m["input_kind"], m["pitch_sigma"]) == ("logfreq", 0.5)
    assert D.INPUT == D.INPUT_DEFAULTS  # reset after the build
    with np.load(tmp_path / "p" / "ex_000000.npz") as z:
        y, f0 = z["y"], z["f0"]
    voiced = f0 > 0
    assert voiced.any()
    assert np.all(y[:, ~voiced] == -1.0) and np.all((y[:, voiced] > -1.0).sum(axis=0) >= 3)  # soft: several rows
    with pytest.raises(ValueError, match="different data set"):
        D.build("pitch", 0.25, tmp_path / "p", seconds=5.0, progress=False)  # the same folder as mel data


def test_training_keeps_the_data_input_kind():
    from models.train import TrainError, make_config, with_input_kind

    cfg = make_config("pitch", "tiny", {}, "gan")
    assert with_input_kind(cfg, {}, False).extra.get("input_kind") is None
    got = with_input_kind(cfg, {"input_kind": "logfreq"}, False)
    assert got.extra["input_kind"] == "logfreq" and got.extra["pitch_min_midi"] == DEFAULT_LAYOUT.min_midi
    with pytest.raises(TrainError, match="reads mel images"):
        with_input_kind(cfg, {"input_kind": "logfreq"}, True)   # --init / --resume of a mel network
    assert json.loads(got.to_json())["extra"]["input_kind"] == "logfreq"
