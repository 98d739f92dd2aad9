"""Constant-memory rendering: the file path streams and equals the in-memory render."""
import numpy as np
import pytest
import soundfile as sf

from streamproc.analysis import MelPicture, StreamingScore
from streamproc.metrics import score
from streamproc.plots import mel_db
from streamproc.render import FileRenderer, render_array, render_file
from streamproc.tasks import resolve


def _stereo(rate, seconds, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    return np.stack([0.3 * np.sin(2 * np.pi * 440 * t) + 0.01 * rng.standard_normal(len(t)),
                     0.2 * np.sin(2 * np.pi * 660 * t)])


@pytest.mark.parametrize("task,recon,rate,out_rate", [("resynth", "mask", 22050, None),
                                                      ("resynth", "gla", 16000, 44100),
                                                      ("separate", "mask", 44100, 16000)])
def test_render_file_equals_render_array(tmp_path, task, recon, rate, out_rate):
    x = _stereo(rate, 0.8).astype(np.float32).astype(np.float64)  # what the FLOAT file holds
    src, dst = tmp_path / "in.wav", tmp_path / "out.wav"
    sf.write(src, x.T, rate, subtype="FLOAT")
    spec = resolve(task, recon, "quality")
    renderer = FileRenderer(spec, out_rate=out_rate, block=777, level="off")  # as render_array: no level gain
    report = renderer.render(src, dst)
    y, sr = sf.read(dst, always_2d=True)
    want = render_array(x, rate, spec, renderer.model, out_rate)
    assert sr == report.out_rate and y.T.shape == want.shape == (2, report.frames_out)
    assert np.max(np.abs(y.T - np.clip(want, -1, 1))) < 2 ** -22  # 24-bit PCM
    # the same renderer again (engines reused, reset between files) gives the same file
    dst2 = tmp_path / "again.wav"
    renderer.render(src, dst2)
    assert np.array_equal(sf.read(dst2)[0], y)


def test_clipped_samples_are_counted(tmp_path):
    x = np.stack([np.full(16000, 0.99)])
    x[0, ::7] = 1.5  # float files may exceed full scale
    src, dst = tmp_path / "in.wav", tmp_path / "out.flac"
    sf.write(src, x.T, 16000, subtype="FLOAT")
    report = FileRenderer(resolve("resynth", "mask", "quality"), level="off").render(src, dst)  # offset kept
    assert report.clipped > 0 and sf.read(dst)[0].max() <= 1.0


def test_streaming_score_equals_metrics():
    rate = 22050
    ref = _stereo(rate, 1.3, 1)
    est = ref + 0.05 * np.random.default_rng(2).standard_normal(ref.shape)
    s = StreamingScore(rate, 2)
    for i in range(0, ref.shape[1], 1000):
        s.push(ref[:, i:i + 1000], est[:, i:i + 700])
        s.push(np.zeros((2, 0)), est[:, i + 700:i + 1000])
    got, want = s.result(), score(ref, est, rate)
    assert got["si_sdr"] == pytest.approx(want["si_sdr"], abs=1e-6)
    assert got["lsd"] == pytest.approx(want["lsd"], rel=0.02)
    silent = StreamingScore(rate, 1)
    silent.push(ref[:1], np.zeros((1, ref.shape[1])))
    assert silent.result()["estimate_silent"]


def test_mel_picture_streams_and_pools():
    x = _stereo(44100, 2.0)
    pic = MelPicture(44100, 2)
    for i in range(0, x.shape[1], 3001):
        pic.push(x[:, i:i + 3001])
    got, want = pic.finish(), mel_db(x, 44100)
    assert got.shape == want.shape
    loud = want > want.max() - 60
    assert np.max(np.abs(got - want)[loud]) < 0.5  # soxr streamed vs one-shot: edges only
    pooled = MelPicture(44100, 2, pool=10)
    pooled.push(x)
    assert pooled.finish().shape[1] == -(-want.shape[1] // 10)
    assert MelPicture.pool_for(3600.0) > 1 and MelPicture.pool_for(10.0) == 1


def test_render_long_plot_is_pooled(tmp_path):
    rate = 8000
    x = _stereo(rate, 200.0)[:1]
    src, dst, png = tmp_path / "in.flac", tmp_path / "out.ogg", tmp_path / "p.png"
    sf.write(src, x.T, rate)
    ref = tmp_path / "ref.flac"
    sf.write(ref, x.T, rate)
    report = render_file(src, dst, resolve("resynth", "mask", "quality"), plot=png, reference=ref)
    assert report.scores["si_sdr"] > 5 and png.stat().st_size > 0
    assert sf.info(str(dst)).frames == pytest.approx(200 * 16000, abs=2)
