"""Figures (streamproc.plots), metrics, and the CLI's --plot / --reference / compare."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

pytest.importorskip("matplotlib")

from streamproc import plots  # noqa: E402
from streamproc.cli import main  # noqa: E402
from streamproc.dsp import hz_to_mel  # noqa: E402
from streamproc.metrics import lsd, score, si_sdr  # noqa: E402

SR = 16000
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _sine(f: float, seconds: float = 1.0, sr: int = SR, amp: float = 0.3) -> np.ndarray:
    return amp * np.sin(2 * np.pi * f * np.arange(int(seconds * sr)) / sr)


def _png_size(path) -> tuple[int, int]:
    import matplotlib.image as mpimg

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    img = mpimg.imread(str(path))
    return img.shape[1], img.shape[0]


def test_plot_functions_write_pngs(tmp_path):
    x = _sine(440.0)
    plots.plot_spectrograms([("in", x, SR), ("out", np.stack([x, x]), 44100), ("ref", x, SR)], tmp_path / "s.png")
    w3, h3 = _png_size(tmp_path / "s.png")
    plots.plot_spectrograms([("in", x, SR)], tmp_path / "s1.png")
    w1, h1 = _png_size(tmp_path / "s1.png")
    assert h3 == h1 >= 300 and w3 > 2 * w1  # panels side by side
    plots.plot_separation_overlay(x, x + _sine(1000.0), SR, tmp_path / "o.png")
    assert min(_png_size(tmp_path / "o.png")) >= 300
    times = np.arange(0, 1, 0.01)
    plots.plot_pitch(x, SR, times, np.where(times < 0.5, 440.0, 0.0), tmp_path / "p.png", title="t")
    assert min(_png_size(tmp_path / "p.png")) >= 300
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.png", "p.png", "s.png", "s1.png"]  # no temporaries


def test_plot_path_must_be_png(tmp_path):
    from streamproc.errors import UserError

    with pytest.raises(UserError, match="unsupported output format"):
        plots.plot_pitch(_sine(440.0), SR, np.zeros(3), np.zeros(3), tmp_path / "p.jpg")
    with pytest.raises(UserError, match="folder does not exist"):
        plots.plot_spectrograms([("a", _sine(440.0), SR)], tmp_path / "no" / "s.png")
    assert not list(tmp_path.iterdir())


def _band(f: float) -> int:
    """Mel row whose centre is nearest f (rows span hz_to_mel(0)..hz_to_mel(8000))."""
    return int(round(float(hz_to_mel(f)) / float(hz_to_mel(8000.0)) * 128 - 0.5))


def test_overlay_classes_on_constructed_case():
    a, b, c = 440.0, 1500.0, 3500.0  # ref = A + B, estimate = A + C
    classes = plots.classify_overlay(plots.mel_db(_sine(a) + _sine(b), SR), plots.mel_db(_sine(a) + _sine(c), SR))
    mid = classes[:, 20:-20]  # away from the onset and offset clicks
    assert (mid[_band(a)] == plots.MATCH).all()
    assert (mid[_band(b)] == plots.MISSED).all()
    assert (mid[_band(c)] == plots.INTERFERENCE).all()
    assert (mid[_band(6000.0)] == plots.NONE).all()
    colours = plots.OVERLAY_COLOURS
    assert colours[plots.MATCH].tolist() == [0, 1, 1] and colours[plots.MISSED].tolist() == [1, 0, 0]
    assert colours[plots.INTERFERENCE].tolist() == [1, 1, 1] and colours[plots.NONE].tolist() == [0, 0, 0]


def test_overlay_ignores_the_estimates_gain():
    ref, est = plots.mel_db(_sine(440.0) + _sine(1500.0), SR), plots.mel_db(_sine(440.0) + _sine(3500.0), SR)
    assert np.array_equal(plots.classify_overlay(ref, est), plots.classify_overlay(ref, est - 30.0))


def test_metrics():
    rng = np.random.default_rng(0)
    x = rng.standard_normal(SR)
    noise = rng.standard_normal(SR)
    assert si_sdr(x, 0.5 * x + 0.1 * noise) == pytest.approx(20 * np.log10(5), abs=0.2)
    assert lsd(x, x) == 0.0
    assert lsd(x, 0.1 * x) == pytest.approx(2.0)  # 20 dB in power: 2 decades of log10
    lp = np.convolve(x, np.ones(8) / 8, mode="same")  # a low-pass: differs from x mostly at the top
    assert lsd(x, lp, band=(4000, 8000)) > lsd(x, lp) > lsd(x, lp, band=(0, 500))
    with pytest.raises(ValueError):
        lsd(x, x, band=(9000, 10000))
    s = score(np.stack([x, x]), np.stack([x, 0.1 * x]), 44100)
    assert s["si_sdr"] > 100 and s["lsd"] > 0.5


# ---------------------------------------------------------------- CLI


@pytest.fixture
def files(tmp_path):
    x = _sine(440.0, 1.0) + _sine(880.0, 1.0, amp=0.1)
    paths = {"in": tmp_path / "in.wav", "ref": tmp_path / "ref.wav", "short": tmp_path / "short.wav",
             "rate": tmp_path / "rate.wav", "stereo": tmp_path / "stereo.wav"}
    sf.write(paths["in"], x, SR)
    sf.write(paths["ref"], _sine(440.0, 1.0), SR)
    sf.write(paths["short"], x[:-10], SR)
    sf.write(paths["rate"], _sine(440.0, 1.0, sr=22050), 22050)
    sf.write(paths["stereo"], np.stack([x, x], 1), SR)
    return paths


def _fail(argv, capsys, *needles):
    assert main([str(a) for a in argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("streamproc: error:") and "\n" not in err, err
    for n in needles:
        assert n in err, err


@pytest.mark.parametrize("bad,needle", [("short", "15990 samples"), ("rate", "22050 Hz"),
                                        ("stereo", "2 channel(s)"), ("missing", "not found")])
def test_render_reference_mismatch_writes_nothing(tmp_path, files, capsys, bad, needle):
    before = sorted(p.name for p in tmp_path.iterdir())
    ref = files.get(bad, tmp_path / "missing.wav")
    _fail(["render", files["in"], tmp_path / "out.wav", "--task", "resynth", "--reference", ref,
           "--plot", tmp_path / "p.png"], capsys, needle)
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_render_plot_path_errors(tmp_path, files, capsys):
    _fail(["render", files["in"], tmp_path / "out.wav", "--task", "resynth", "--plot", tmp_path / "p.pdf"],
          capsys, "'.pdf'")
    _fail(["render", files["in"], tmp_path / "out.csv", "--task", "pitch", "--reference", files["ref"],
           "--plot", tmp_path / "p.png"], capsys, "--task pitch")
    assert not (tmp_path / "out.wav").exists() and not (tmp_path / "p.png").exists()


def test_render_with_plot_and_reference(tmp_path, files, capsys):
    out, png, same = tmp_path / "out.wav", tmp_path / "p.png", tmp_path / "same.wav"
    same.write_bytes(files["in"].read_bytes())
    assert main(["render", str(files["in"]), str(out), "--task", "resynth", "--recon", "mask",
                 "--reference", str(same), "--plot", str(png)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("SI-SDR") and float(lines[0].split()[1]) > 40  # mask resynth is transparent
    assert lines[1].startswith("LSD")
    w, h = _png_size(png)
    assert w > 2 * h  # three panels
    assert sf.info(str(out)).frames == SR


def test_compare(tmp_path, files, capsys):
    assert main(["compare", str(files["ref"]), str(files["in"]), "--plot", str(tmp_path / "o.png")]) == 0
    out = capsys.readouterr().out.splitlines()
    sdr = float(out[0].split()[1])
    assert sdr == pytest.approx(20 * np.log10(3), abs=0.1)  # 0.3 vs 0.1 amplitude: 9.5 dB
    assert float(out[1].split()[1]) > 0
    _png_size(tmp_path / "o.png")


@pytest.mark.parametrize("bad,needle", [("short", "must be equal"), ("rate", "22050 Hz"),
                                        ("stereo", "2 channel(s)")])
def test_compare_mismatch(tmp_path, files, capsys, bad, needle):
    _fail(["compare", files["ref"], files[bad], "--plot", tmp_path / "o.png"], capsys, needle)
    assert not (tmp_path / "o.png").exists()


def test_compare_bad_files(tmp_path, files, capsys):
    _fail(["compare", tmp_path / "nope.wav", files["in"]], capsys, "not found")
    (tmp_path / "junk.wav").write_text("not audio")
    _fail(["compare", files["in"], tmp_path / "junk.wav"], capsys, "cannot read")
    _fail(["compare", files["in"], files["in"], "--plot", tmp_path / "o.svg"], capsys, "'.svg'")
