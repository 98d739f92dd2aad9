"""Target shift (models.train --target-shift S): training targets S frames later than the input,
carried in the model metadata, and honoured by the pitch task's sine and file tracking."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import streamproc
from streamproc.config import DEFAULT
from streamproc.errors import UserError
from streamproc.pitch import frames_to_grid, track_pitch
from streamproc.pitch_stages import SineSynth, described_sample
from streamproc.tasks import build_core, resolve
from standins import LoudestBandModel

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- the batch

def _frames_set(lengths: list[int]):
    """A PairedFrames holding examples whose columns are numbered: x[:, t] = t, y[:, t] = 1000 + t."""
    from models.data import PairedFrames

    ds = object.__new__(PairedFrames)
    ds.xs = [np.tile(np.arange(T, dtype=np.float32), (3, 1)) for T in lengths]
    ds.ys = [x[:2] + 1000.0 for x in ds.xs]
    ds.rows_in, ds.rows_out = 3, 2
    ds.weights = np.array(lengths, np.float64) / sum(lengths)
    return ds


@pytest.mark.parametrize("shift", [0, 2, 5])
def test_batch_targets_are_shifted(shift):
    ds = _frames_set([70, 100, 66 + shift])
    xb, yb = ds.batch(np.random.default_rng(3), 64, 64, shift)
    assert xb.shape == (64, 1, 3, 64) and yb.shape == (64, 1, 2, 64)
    # target column j is the label of input frame j + S, and the shifted window stays inside the example
    assert np.array_equal(yb[:, 0, 0] - 1000.0, xb[:, 0, 0] + shift)
    assert (yb > -1).all()


def test_batch_without_shift_draws_as_before_and_pads_short_examples():
    ds = _frames_set([80, 40])
    a = ds.batch(np.random.default_rng(7), 16, 64)
    b = ds.batch(np.random.default_rng(7), 16, 64, 0)
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    xb, yb = _frames_set([40]).batch(np.random.default_rng(0), 2, 64, 2)
    assert np.array_equal(yb[0, 0, 0, :38], np.arange(2, 40) + 1000.0) and (yb[0, 0, :, 38:] == -1).all()
    assert (xb[0, 0, :, 40:] == -1).all()
    with pytest.raises(ValueError, match="target_shift"):
        ds.batch(np.random.default_rng(0), 1, 64, -1)


# ----------------------------------------------------------------------------- training, export, runtime

def test_tiny_run_records_the_shift_and_export_carries_it(tmp_path):
    pytest.importorskip("torch")
    pytest.importorskip("fluidsynth")
    import torch

    from conftest_models import tiny_data, train_args
    from export.onnx import export
    from models.train import main
    from streamproc.onnx_model import load_model

    data = tiny_data("pitch")
    run = tmp_path / "run"
    assert main(train_args("pitch", data, run, 2, "--target-shift", "2")) == 0
    summary = json.loads(torch.load(run / "ckpt_last.pt", weights_only=True)["summary"])
    assert summary["target_shift"] == 2
    # a resumed run keeps its own shift; asking for another one is refused before any step
    r = subprocess.run([sys.executable, "-m", "models.train", *train_args("pitch", data, run, 4, "--resume",
                                                                         "--target-shift", "0")],
                       capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "--target-shift 2" in r.stderr and "Traceback" not in r.stderr
    assert main(train_args("pitch", data, run, 4, "--resume")) == 0
    ck = torch.load(run / "ckpt_last.pt", weights_only=True)
    assert ck["step"] == 4 and json.loads(ck["summary"])["target_shift"] == 2

    export(run / "ckpt_last.pt", tmp_path / "shifted.onnx", data=data)
    m = load_model(tmp_path / "shifted.onnx", task="pitch")
    assert m.target_shift_frames == 2 and m.metadata["target_shift_frames"] == "2"
    # a model trained without the option says nothing and reads as 0
    assert main(train_args("pitch", data, tmp_path / "plain", 1)) == 0
    export(tmp_path / "plain" / "ckpt_last.pt", tmp_path / "plain.onnx")
    plain = load_model(tmp_path / "plain.onnx", task="pitch")
    assert plain.target_shift_frames == 0 and "target_shift_frames" not in plain.metadata


def test_metadata_shift_default_round_trip_and_errors():
    from dataclasses import replace

    from streamproc.model_meta import ModelMetadata
    from streamproc.pitchmap import DEFAULT_LAYOUT

    meta = ModelMetadata(task="pitch", output_kind="pitchmap", spectral=DEFAULT, n_inputs=128, n_outputs=128,
                         context_frames=63, new_frames=1, lookahead_frames=0, pitch=DEFAULT_LAYOUT)
    props = meta.to_props()
    assert "target_shift_frames" not in props and ModelMetadata.from_props(props).target_shift_frames == 0
    shifted = replace(meta, target_shift_frames=2)
    props = shifted.to_props()
    assert props["target_shift_frames"] == "2" and ModelMetadata.from_props(props) == shifted
    for bad in ("two", "-1", "1000"):
        with pytest.raises(UserError, match="target_shift_frames") as e:
            ModelMetadata.from_props({**props, "target_shift_frames": bad}, "m.onnx")
        assert str(e.value).startswith("m.onnx") and "\n" not in str(e.value)


# ----------------------------------------------------------------------------- the sine and the track

class EndModel(LoudestBandModel):
    """The loudest-band stand-in trained "at the frame's end": column j says what the unshifted
    stand-in says for frame j + 2 (whose centre is frame j's last sample); the last two columns
    hold the last one's. Lookahead 6 keeps every column the chunker uses (new and crossfade) exact."""

    target_shift_frames = 2
    context_frames, new_frames, lookahead_frames = 4, 3, 6

    def run(self, window: np.ndarray) -> np.ndarray:
        base = super().run(window)
        return np.concatenate([base[:, 2:], base[:, -1:], base[:, -1:]], axis=1)


def test_sine_latency_drops_by_the_shift_and_stays_exact():
    base = build_core(resolve("pitch", None, "quality"), LoudestBandModel())
    core = build_core(resolve("pitch", None, "quality"), EndModel())
    assert core.synth.latency_samples == 0 and base.synth.latency_samples == 512
    chunker = lambda m: (m.new_frames - 1 + m.lookahead_frames) * 256  # noqa: E731
    assert core.latency_samples == 255 + chunker(EndModel) + 0
    assert base.latency_samples == 255 + chunker(LoudestBandModel) + 512
    x = np.random.default_rng(0).standard_normal(8000) * 0.1
    streamproc.engine.Engine(core, 16000).render(x, block=1)
    core.latency_samples -= 1  # one sample less than declared: the engine runs short
    with pytest.raises(RuntimeError, match="underrun"):
        streamproc.engine.Engine(core, 16000).render(x, block=1)


def test_shifted_model_sine_is_time_aligned():
    """The same pitch instants through a shifted model: the 300 -> 600 Hz switch lands where it is
    in the input, as with the unshifted stand-in; declaring no shift would put it 512 samples early."""
    rate = 16000
    t = np.arange(rate) / rate
    t0 = 0.5
    x = 0.2 * np.sin(2 * np.pi * np.cumsum(np.where(t < t0, 300.0, 600.0)) / rate)

    def switch(model) -> int:
        y = streamproc.Processor("pitch", model=model, profile="quality")(x, rate)  # the models' own chunking
        up = np.flatnonzero((y[:-1] <= 0) & (y[1:] > 0))
        pos, f = up[1:], rate / np.diff(up)
        early, late = np.median(f[(pos > 0.3 * rate) & (pos < 0.45 * rate)]), np.median(f[pos > 0.6 * rate])
        assert late > 1.3 * early
        after = pos > 0.3 * rate
        return int(pos[after][np.flatnonzero(f[after] > np.sqrt(early * late))[0]]) - int(t0 * rate)

    class Undeclared(EndModel):
        target_shift_frames = 0

    aligned, base, early = switch(EndModel()), switch(LoudestBandModel()), switch(Undeclared())
    assert abs(aligned) <= 256 and abs(aligned - base) <= 40, (aligned, base)  # a period or so
    assert -512 - 64 <= early - aligned <= -512 + 64, (early, aligned)


def test_track_reads_frames_at_their_shifted_instants():
    midi = 60.0 + 0.4 * np.arange(8)  # a glide: each step within one note, so interpolated
    voiced, rms = np.ones(8, bool), np.full(8, 0.1)
    for shift in (0, 2):
        k = np.arange(1, 6)
        times, f0, _, _ = frames_to_grid(midi, voiced, rms, 0.2, DEFAULT, shift * DEFAULT.hop)
        at = described_sample(k, DEFAULT, shift) / DEFAULT.sample_rate
        got = np.interp(at, times, np.log2(f0))  # the grid is linear in log-f0 between frames
        assert np.allclose(got, np.log2(streamproc.pitchmap.midi_to_hz(midi[k])), atol=1e-9)
    # a tracked file: the shifted stand-in gives the unshifted one's track (same instants)
    x = 0.2 * np.sin(2 * np.pi * np.cumsum(np.where(np.arange(16000) < 8000, 300.0, 600.0)) / 16000)
    a, b = track_pitch(x, 16000, model=LoudestBandModel()), track_pitch(x, 16000, model=EndModel())
    inner = slice(5, len(a.times) - 10)
    assert np.allclose(a.f0[inner], b.f0[inner]) and np.allclose(a.level_db, b.level_db)


def test_a_note_change_takes_the_nearer_frame_not_a_pitch_between():
    midi = np.array([60.0, 60.0, 60.0, 64.0, 64.0, 64.0])
    voiced, rms = np.ones(6, bool), np.full(6, 0.1)
    times, f0, _, guess = frames_to_grid(midi, voiced, rms, 0.1, DEFAULT, 0)
    m = 69 + 12 * np.log2(guess / 440.0)
    assert np.allclose(np.minimum(np.abs(m - 60), np.abs(m - 64)), 0, atol=1e-9)  # never between
    at = described_sample(np.arange(6), DEFAULT, 0) / DEFAULT.sample_rate
    switch = (at[2] + at[3]) / 2  # half-way between the last 60 and the first 64
    t = times[(times > at[2]) & (times < at[3])]
    got = 69 + 12 * np.log2(guess[np.isin(times, t)] / 440.0)
    assert len(t) >= 2 and np.allclose(got, np.where(t < switch, 60.0, 64.0), atol=1e-9)


def test_a_shift_past_the_frame_end_is_refused():
    class Beyond(LoudestBandModel):
        target_shift_frames = 3  # 3 hops after the centre: past the frame's last sample

    with pytest.raises(UserError, match="target shift of 3 frames") as e:
        build_core(resolve("pitch", None), Beyond())
    assert "\n" not in str(e.value)
    with pytest.raises(UserError, match="0..2 frames"):
        SineSynth(DEFAULT, target_shift_frames=3)
    assert SineSynth(DEFAULT, target_shift_frames=1).latency_samples == 256

