"""Restoration pairs from the task models' own outputs (models.restore_inputs, models.data
--from-models): the offline model image equals what the engine's chunker streams, the pairs
line up with the target's true spectrum, and a set never mixes two models' outputs."""
from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("fluidsynth")

from models import data as D  # noqa: E402
from models import restore_inputs as RI  # noqa: E402
from standins import identity_mel_model  # noqa: E402
from streamproc import dsp  # noqa: E402
from streamproc.config import DEFAULT  # noqa: E402
from streamproc.onnx_model import MODELS_DIR  # noqa: E402


class _Shift:
    """A mel model whose output column j is its input column j - 1 (one frame late), so a
    misaligned image shows up as a shift."""

    output_kind = "mel"
    n_inputs = n_outputs = DEFAULT.n_mels
    context_frames, new_frames, lookahead_frames = 4, 3, 2

    def run(self, window: np.ndarray) -> np.ndarray:
        return np.concatenate([np.full((window.shape[0], 1), -1.0, np.float32), window[:, :-1]], axis=1)


@pytest.mark.parametrize("chunking", [(None, None), (2, 2), (1, 0), (3, 0)])
def test_model_image_is_every_frame_in_place(chunking):
    rng = np.random.default_rng(0)
    feats = rng.uniform(-1, 1, (DEFAULT.n_mels, 23)).astype(np.float32)
    assert np.allclose(RI.model_image(identity_mel_model(), feats, *chunking), feats, atol=1e-6)  # crossfades round
    shifted = RI.model_image(_Shift(), feats, *chunking)
    # within each run the model sees its real predecessor column, except at a window's first
    # column; the frames that are first in no run equal the previous input column
    same = np.all(np.abs(shifted[:, 1:] - feats[:, :-1]) < 1e-6, axis=0)
    assert same.mean() > 0.5, same


def test_restore_pair_target_is_the_true_spectrum_and_input_comes_from_the_model():
    t = np.arange(DEFAULT.sample_rate) / DEFAULT.sample_rate
    x = 0.3 * np.sin(2 * np.pi * 440 * t)
    y = 0.3 * np.sin(2 * np.pi * 660 * t)
    xi, yi = RI.restore_pair("separate", MODELS_DIR / "separate.onnx", x, y)
    assert xi.shape == yi.shape == (DEFAULT.n_bins, dsp.n_frames_for(len(y), DEFAULT))
    assert np.allclose(yi, dsp.features_from_mel(np.abs(dsp.stft(y, DEFAULT)), DEFAULT).T)
    mid = slice(10, -10)
    assert abs(int(np.argmax(yi[:, mid].mean(axis=1))) - round(660 * DEFAULT.n_fft / DEFAULT.sample_rate)) <= 1
    assert not np.allclose(xi, yi)  # the model's (masked-mixture) estimate, not the truth


def test_restore_pair_feeds_a_live_model_the_image_it_was_trained_on(monkeypatch):
    """``separate-live`` reads the log-mel image under the live profile's asymmetric window."""
    from streamproc.features import audio_features

    seen = []
    monkeypatch.setattr(RI, "model_image", lambda model, feats, *a: seen.append(feats) or feats)
    t = np.arange(DEFAULT.sample_rate // 2) / DEFAULT.sample_rate
    x = 0.3 * np.sin(2 * np.pi * 440 * t) * np.exp(-3 * t)
    RI.restore_pair("separate", MODELS_DIR / "separate-live.onnx", x, x)
    assert np.allclose(seen[0], audio_features(x, DEFAULT, "mel-asym"))
    assert not np.allclose(seen[0], audio_features(x, DEFAULT, "mel"), atol=1e-3)


def test_sources_are_checked_and_recorded(tmp_path):
    with pytest.raises(ValueError, match="not one of"):
        RI.parse_sources("pitch")
    with pytest.raises(ValueError, match="no model file"):
        RI.parse_sources(f"synth={tmp_path / 'none.onnx'}")
    src = RI.parse_sources("synth")
    with pytest.raises(ValueError, match="needs --task restore"):
        D.build("separate", 0.05, tmp_path / "s", restore_from=src, seconds=2.0, progress=False)
    m = D.build("restore", 0.05, tmp_path / "r", restore_from=src, seconds=2.0, progress=False)
    assert m["restore_from"]["synth"]["file"] == "synth.onnx" and len(m["restore_from"]["synth"]["sha256"]) == 64
    assert D.RESTORE_SOURCES is None  # the setting does not leak into the next set
    with np.load(tmp_path / "r" / "ex_000000.npz", allow_pickle=False) as z:
        assert json.loads(str(z["info"]))["restore_from"] == "synth" and z["x"].shape[0] == DEFAULT.n_bins
    with pytest.raises(ValueError, match="different data set"):
        D.build("restore", 0.05, tmp_path / "r", seconds=2.0, progress=False)  # true-mel inputs: another set


def test_a_live_chunking_is_checked_recorded_and_keeps_sets_apart(tmp_path):
    """``--from-models-chunking 1,0``: the task models run as in the live profile (newest column,
    no lookahead); the manifest says so, and a set made at the default chunking is another set."""
    with pytest.raises(ValueError, match="NEW,LOOKAHEAD"):
        RI.parse_chunking("1")
    with pytest.raises(ValueError, match="at least 1"):
        RI.parse_chunking("0,0")
    with pytest.raises(ValueError, match="give --from-models too"):
        D.build("restore", 0.05, tmp_path / "x", restore_chunking=(1, 0), seconds=2.0, progress=False)
    src = RI.parse_sources("synth")
    m = D.build("restore", 0.05, tmp_path / "r", restore_from=src, restore_chunking=RI.parse_chunking("1,0"),
                seconds=2.0, progress=False)
    assert m["restore_from"]["synth"]["chunking"] == "1+0" and D.RESTORE_CHUNKING is None
    with pytest.raises(ValueError, match="different data set"):
        D.build("restore", 0.05, tmp_path / "r", restore_from=src, seconds=2.0, progress=False)
