"""The low-delay framing of the ``live`` profile (streamproc.lowdelay): perfect reconstruction at
the host rate with no resampler, the model fed on its trained spacing with no lookahead, a
worker-thread model that changes nothing but timing, and clear refusals."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from streamproc import dsp
from streamproc.config import DEFAULT
from streamproc.engine import Engine
from streamproc.errors import UserError
from streamproc.frame_model import IdentityModel
from streamproc.lowdelay import StridedChunker, host_config
from streamproc.frames import Frames
from streamproc.pitchmap import midi_to_hz
from streamproc.spec import PROFILES, LowDelay, resolve
from streamproc.tasks import build_core, build_engine

from standins import LoudestBandModel, identity_mel_model, push_blocks


def _live(task: str, recon: str | None = None, **low_delay) -> object:
    spec = resolve(task, recon, "live")
    if low_delay:
        profile = dataclasses.replace(spec.profile, low_delay=dataclasses.replace(spec.profile.low_delay, **low_delay))
        spec = dataclasses.replace(spec, profile=profile)
    return spec


@pytest.mark.parametrize("hop", [64, 192])
def test_asymmetric_windows_reconstruct_perfectly_from_two_hops(hop):
    n = 16 * hop
    ana, syn = dsp.asymmetric_windows(n, hop)
    assert not syn[: n - 2 * hop].any(), "synthesis must not reach further back than two hops"
    prod = ana * syn
    ola = sum(np.roll(np.pad(prod, (0, n)), k * hop)[:2 * n] for k in range(2 * n // hop))
    np.testing.assert_allclose(ola[n:2 * n - hop], 1.0, atol=1e-12)
    assert ana.argmax() >= n - hop - 1, "the analysis window peaks at its newest hop"


@pytest.mark.parametrize("rate", [16000, 44100, 48000])
def test_resynth_mask_at_the_host_rate_is_the_input_two_hops_late(rate):
    e = build_engine(resolve("resynth", "mask", "live"), None, rate)
    cfg, stride = host_config(DEFAULT, rate, PROFILES["live"].low_delay.hop_ms)
    assert e.core.cfg.sample_rate == rate and e._rs_in is None and e._rs_out is None
    assert stride == 4 and abs(cfg.n_fft / rate - 0.064) < 0.002 and abs(cfg.hop / rate - 0.004) < 0.0002
    assert e.latency_samples == 2 * cfg.hop - 1
    x = 0.3 * np.random.default_rng(rate).standard_normal(rate // 2)
    delayed = push_blocks(e, np.concatenate([x, np.zeros(e.latency_samples)]), [64] * (len(x) // 64 + 20))
    y = e.render(x, block=64)
    np.testing.assert_allclose(y[cfg.n_fft:], x[cfg.n_fft:], atol=1e-9)  # after the window has filled
    np.testing.assert_allclose(delayed[: len(y)], y, atol=1e-12)


def test_mel_features_match_the_models_own_at_any_rate():
    """The host-rate Hann mel column equals the 16 kHz one of the same audio (what the models
    trained on), up to the 16 kHz resampler's passband edge."""
    from streamproc.lowdelay import LowDelayFramer
    import soxr

    t = np.arange(48000) / 48000
    x48 = 0.2 * sum(np.sin(2 * np.pi * 330 * k * t) / k for k in range(1, 9))
    x16 = soxr.resample(x48, 48000, 16000, "VHQ")
    f48 = LowDelayFramer(host_config(DEFAULT, 48000, 4.0)[0]).process(x48).features
    f16 = LowDelayFramer(host_config(DEFAULT, 16000, 4.0)[0]).process(x16).features
    n = min(len(f48), len(f16))
    err = np.abs(f48[40:n, :110] - f16[40:n, :110])  # bands below ~6 kHz, after the window filled
    assert err.mean() < 0.01 and err.max() < 0.08


class _Recorder(IdentityModel):
    def __init__(self) -> None:
        super().__init__(4, context_frames=3, new_frames=1, lookahead_frames=1)
        self.windows: list[np.ndarray] = []

    def run(self, window):
        self.windows.append(window.copy())
        return super().run(window)


def _frames(cols: np.ndarray) -> Frames:
    return Frames(stft=np.zeros((len(cols), 3), np.complex128), features=cols.astype(np.float32))


@pytest.mark.parametrize("delay", [0, 2])
def test_strided_chunker_feeds_past_columns_at_the_stride_and_holds_between_runs(delay):
    m = _Recorder()
    ch = StridedChunker(m, stride=3, run_every=2, delay=delay)
    cols = np.arange(40 * 4, dtype=np.float32).reshape(40, 4)
    out = Frames.concat([ch.process(_frames(cols[i:i + 7])) for i in range(0, 40, 7)])
    if delay:
        ch._pool.shutdown(wait=True)  # the newest runs are not due yet: let them finish
    assert len(m.windows) == 20
    k = 30  # runs at even frames: window = frames k-15, k-12, ..., k (5 wide), oldest first
    np.testing.assert_array_equal(m.windows[k // 2], cols[k - 12:k + 1:3].T)
    assert np.all(m.windows[0][:, :-1] == -1.0), "history starts as silence"
    for i in range(delay, 40):
        src = (i - delay) // 2 * 2  # the newest run whose result was due by frame i
        np.testing.assert_array_equal(out.features[i], cols[src])
        np.testing.assert_array_equal(out.input_features[i], cols[src])
    ch.close()


def test_a_worker_thread_model_gives_the_same_output_whatever_the_blocks():
    spec = _live("separate", run_every=2, model_delay=1)
    e = Engine(build_core(spec, identity_mel_model(), rate=48000), 48000)
    x = 0.2 * np.random.default_rng(3).standard_normal(24000)
    whole = push_blocks(e, x, [len(x)])
    sizes = [int(s) for s in np.random.default_rng(4).integers(1, 500, 120)]
    np.testing.assert_allclose(push_blocks(e, x, sizes), whole, atol=1e-12)
    assert np.abs(whole).max() > 1e-2


def test_live_pitch_sonifies_the_tracked_pitch_at_the_host_rate():
    e = Engine(build_core(resolve("pitch", None, "live"), LoudestBandModel(), rate=48000), 48000)
    t = np.arange(48000) / 48000
    y = e.render(0.3 * np.sin(2 * np.pi * 440 * t), block=64)
    seg = y[24000:36000]
    spec = np.abs(np.fft.rfft(seg * np.hanning(len(seg))))
    f = np.fft.rfftfreq(len(seg), 1 / 48000)[spec.argmax()]
    assert f > 100 and np.isfinite(y).all()
    assert e.latency_samples == 192 - 1 + 3072 // 2  # framer + half a window: the frame's centre
    assert midi_to_hz(69) == pytest.approx(440.0)


@pytest.mark.parametrize("task, recon", [("separate", "wavenet"), ("synth", "wavenet"), ("superres", "wavenet-guided")])
def test_live_refuses_what_it_does_not_run_yet_in_one_line(task, recon):
    with pytest.raises(UserError, match=r"profile live runs --recon gla, hybrid, mask, restore, sine so far") as e:
        resolve(task, recon, "live")
    assert "\n" not in str(e.value)


def test_live_refuses_rates_below_the_models_band():
    with pytest.raises(UserError, match="at least 16000 Hz"):
        build_engine(resolve("resynth", "mask", "live"), None, 8000)


def test_live_profile_settings_are_the_documented_ones():
    assert PROFILES["live"].low_delay == LowDelay(4.0, 2, 1, grain_delays=(("gla", 6), ("restore", 6), ("hybrid", 3)))


def test_the_latency_quality_plot_takes_heard_latency_from_the_engine():
    from bench.latency_quality import collect, heard_ms

    assert heard_ms("resynth", "mask", "live", 48000) == pytest.approx(1e3 * (383 + 64 + 384 + 64) / 48000)
    assert heard_ms("resynth", "gla", "live", 48000) == pytest.approx(1e3 * (191 + 6 * 192 + 384 + 64 + 64) / 48000)
    assert heard_ms("resynth", "restore", "live", 48000) == heard_ms("resynth", "gla", "live", 48000)
    assert heard_ms("separate", "wavenet", "live", 48000) is None  # not run by that profile
    report = {"profiles": {"live": {"tasks": {"separate": {"summary": {
        "mask": {"si_sdr_mean": 7.0, "n": 3}, "restore": {"si_sdr_mean": 1.0}, "mixture": {"si_sdr_mean": -6.0}}}}}}}
    rows = collect(report, 48000)
    assert [(r["recon"], r["value"]) for r in rows] == [("mask", 7.0), ("restore", 1.0)]  # baselines left out


def test_live_pitch_with_a_model_that_describes_the_frame_end_sounds_at_once():
    """A model trained with a target shift of 2 frames (half a window: ``pitch-live``) describes
    its newest frame's last sample, so the live sine is declared no later than the framer's hop."""
    class Shifted(LoudestBandModel):
        target_shift_frames = 2

    e = Engine(build_core(resolve("pitch", None, "live"), Shifted(), rate=48000), 48000)
    assert e.latency_samples == 192 - 1
    t = np.arange(24000) / 48000
    assert np.abs(e.render(0.3 * np.sin(2 * np.pi * 440 * t), block=64)).max() > 0.05


class _AsymRecorder(IdentityModel):
    """An identity mel model that says it reads the live window's image (``mel-asym``)."""

    input_kind = "mel-asym"

    def __init__(self) -> None:
        super().__init__(DEFAULT.n_mels, context_frames=7, new_frames=1, lookahead_frames=0)
        self.windows: list[np.ndarray] = []

    def run(self, window):
        self.windows.append(window.copy())
        return super().run(window)


def test_a_model_trained_on_the_live_window_reads_that_image_and_its_mask_stays_transparent():
    """The framer takes its features under the asymmetric window (the training data's image,
    ``features.audio_features``, frame for frame), and an identity prediction divided by that same
    column passes the input through exactly."""
    from streamproc.features import audio_features

    m = _AsymRecorder()
    e = Engine(build_core(_live("separate"), m, rate=16000), 16000)
    assert e.core.framer.feature_window == e.core.framer.reference_window == "asymmetric"
    x = 0.2 * np.random.default_rng(5).standard_normal(16000)
    y = e.render(x, block=64)
    np.testing.assert_allclose(y[2048:], x[2048:], atol=1e-9)
    # run i reads live frame k = 2i (ending with sample 64k + 63); with 192 samples of silence
    # before x, standard frame j (hop 256) ends with that sample when k = 4j
    want = audio_features(np.concatenate([np.zeros(192), x]), DEFAULT, "mel-asym")
    i = (len(m.windows) - 1) // 2 * 2
    np.testing.assert_allclose(m.windows[i][:, -1], want[:, i // 2], atol=1e-5)
    np.testing.assert_allclose(m.windows[i][:, -2], want[:, i // 2 - 1], atol=1e-5)  # its past, 16 ms apart


def test_a_live_window_model_is_refused_in_the_standard_framing_in_one_line():
    with pytest.raises(UserError, match="--profile live") as e:
        build_core(resolve("separate", "mask", "default"), _AsymRecorder())
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("rate", [16000, 48000])
def test_live_restore_with_an_identity_net_keeps_the_descaled_magnitudes(rate):
    """The restoration net reads the model band (its trained bins) in its own dB scale; an
    identity net hands back what it was given, and the bins above the band pass untouched."""
    from streamproc.lowdelay import LiveRestore

    cfg, stride = host_config(DEFAULT, rate, 4.0)
    stage = LiveRestore(IdentityModel(DEFAULT.n_bins, 4, 1, 0), cfg, stride, run_every=1, delay=0)
    rng = np.random.default_rng(0)
    mag = 10.0 ** rng.uniform(-3.5, -0.5, size=(12, cfg.n_bins))  # within the image's dB range
    out = stage.process(Frames(stft=np.zeros_like(mag, complex), magnitude=mag)).get("magnitude")
    np.testing.assert_allclose(out, mag, rtol=1e-4)
    assert stage.bins == DEFAULT.n_bins <= cfg.n_bins


def test_live_restore_sees_its_past_on_the_trained_spacing_and_applies_a_hop_late():
    """Run every 2 hops on a worker, one hop late, like the task model: frame j carries the
    net's run on the newest even frame before j, whose window holds every ``stride``-th frame."""
    from streamproc.lowdelay import LiveRestore

    class Oldest(IdentityModel):  # its prediction for the newest frame: the window's oldest column
        def run(self, window):
            return np.repeat(window[:, :1], window.shape[1], axis=1)

    cfg, stride = host_config(DEFAULT, 16000, 4.0)
    stage = LiveRestore(Oldest(DEFAULT.n_bins, 1, 1, 0), cfg, stride, run_every=2, delay=1)
    db = np.arange(24)[:, None] * np.ones((1, cfg.n_bins))  # frame k at k + 1 dB above the floor
    mag = 10.0 ** ((DEFAULT.db_floor + 1.0 + db) / 20.0)
    out = stage.process(Frames(stft=np.zeros_like(mag, complex), magnitude=mag)).get("magnitude")
    got = np.round(20 * np.log10(out[:, 0]) - DEFAULT.db_floor - 1.0, 3)
    ran = [j - 1 - (j - 1) % 2 for j in range(1, 24)]  # the run whose prediction frame j carries
    want = [float(k - stride) if k >= stride else -1.0 for k in ran]  # silence (the floor) before the start
    assert stride == 4 and got[1:].tolist() == want


def test_live_runs_its_own_restoration_net_with_one_thread_per_model():
    """``restore-live`` (zero lookahead, trained on the task models' live-chunked outputs) is the
    live profile's restoration net; the other profiles keep ``restore``."""
    from streamproc.spec import shipped_model

    assert shipped_model("restore", PROFILES["live"]).name == "restore-live.onnx"
    assert shipped_model("restore", PROFILES["default"]).name == "restore.onnx"
    assert PROFILES["live"].low_delay.model_threads == 1


def test_live_separate_runs_the_model_whose_image_each_reconstruction_reads():
    """``mask`` applies separate-live's asymmetric-window image as it is; ``gla`` and ``restore``
    resynthesise Hann-window magnitudes, so under them live runs the Hann-trained ``separate``."""
    import streamproc
    from streamproc.spec import shipped_model

    live = PROFILES["live"]
    assert shipped_model("separate", live, "mask").name == "separate-live.onnx"
    assert shipped_model("separate", live).name == "separate-live.onnx"
    for recon in ("gla", "restore"):
        assert shipped_model("separate", live, recon).name == "separate.onnx"
        assert streamproc.Processor("separate", recon, profile="live")._model.path.name == "separate.onnx"
    assert streamproc.Processor("separate", "mask", profile="live")._model.path.name == "separate-live.onnx"
    assert shipped_model("separate", PROFILES["default"], "gla").name == "separate.onnx"
