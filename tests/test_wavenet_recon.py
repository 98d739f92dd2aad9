"""--recon wavenet / wavenet-guided with the shipped GAN-WN vocoder, through every front end."""
import json

import numpy as np
import pytest
import soundfile as sf

import streamproc
from streamproc import wavenet as W
from streamproc.cli import main
from streamproc.onnx_model import MODELS_DIR
from streamproc.tasks import RECONS, VOCODER_FILE, model_tasks

EXAMPLES = MODELS_DIR.parent / "examples"


def _example(name: str, seconds: float = 1.5) -> np.ndarray:
    x, sr = sf.read(str(EXAMPLES / name), dtype="float32")
    assert sr == 16000
    return x[: int(seconds * sr)]


def test_the_vocoder_ships_trained_with_a_card():
    voc = W.load_vocoder(MODELS_DIR / VOCODER_FILE)
    training = voc.meta["training"]
    assert training["steps"] >= 1000 and training["data_minutes"] >= 10
    card = (MODELS_DIR / VOCODER_FILE).with_suffix(".md").read_text()
    assert "test split" in card.lower() and str(training["steps"]) in card
    for task in model_tasks("mel"):  # every task whose model writes a mel image
        assert "wavenet" in RECONS[task]
    assert "wavenet-guided" in RECONS["superres"]


def test_guided_with_weight_one_is_the_input_at_the_declared_latency():
    """w = 1: every sample is the guide (the input resynthesised by overlap-add), so the output is
    the input delayed by exactly the latency the processor declares (which process() with
    reset=True takes off again)."""
    x = _example("lofi.flac")
    fx = streamproc.Processor("superres", "wavenet-guided", guide_weight=1.0)
    assert fx.latency_for(16000) > 768  # the vocoder's 768 samples with a guide, plus the model's chunking
    np.testing.assert_allclose(fx.process(x, 16000, reset=True), x, atol=1e-5)


def test_wavenet_output_is_audio_and_deterministic_and_block_invariant():
    x = _example("duet.flac", 1.0)
    outs = [streamproc.Processor("separate", "wavenet").process(x, 16000, buffer_size=b) for b in (4096, 333)]
    np.testing.assert_array_equal(outs[0], outs[1])
    y = outs[0]
    assert len(y) == len(x) and np.all(np.isfinite(y))
    assert 1e-3 < np.sqrt(np.mean(y[4000:] ** 2)) < 1.0  # it makes sound, not silence or noise at full scale


@pytest.mark.parametrize("recon, task", [("wavenet", "separate"), ("wavenet-guided", "superres")])
@pytest.mark.parametrize("profile", ["default", "quality"])
def test_streaming_at_host_rates_never_runs_short(recon, task, profile):
    """The declared latency holds with the host-rate resamplers too (the vocoder hands out whole
    hops, as the output resampler's declared hold-back assumes), for any block size."""
    x = np.random.default_rng(1).standard_normal(44100).astype(np.float32) * 0.1
    for rate, block in ((44100, 256), (48000, 1000), (22050, 64)):
        fx = streamproc.Processor(task, recon, profile=profile)
        out = [fx.process(x[i:i + block], rate, reset=False) for i in range(0, len(x), block)]
        assert sum(map(len, out)) == len(x) - fx.latency_samples


def test_render_cli_wavenet_guided(tmp_path):
    src = tmp_path / "in.wav"
    sf.write(str(src), _example("lofi.flac", 1.0), 16000)
    out = tmp_path / "out.wav"
    assert main(["render", str(src), str(out), "--task", "superres", "--recon", "wavenet-guided",
                 "--guide-weight", "0.7", "--quiet"]) == 0
    y, sr = sf.read(str(out))
    assert sr == 16000 and len(y) == 16000 and np.all(np.isfinite(y))


@pytest.mark.parametrize("argv, needle", [
    (["--task", "separate", "--recon", "wavenet", "--guide-weight", "0.5"], "wavenet-guided only"),
    (["--task", "superres", "--recon", "wavenet-guided", "--guide-weight", "1.5"], "within [0, 1]"),
    (["--task", "superres", "--recon", "wavenet-guided", "--guide-weight", "nan"], "within [0, 1]"),
    (["--task", "pitch", "--recon", "wavenet"], "not available"),
])
def test_bad_guide_weight_and_recon(tmp_path, capsys, argv, needle):
    src = tmp_path / "in.wav"
    sf.write(str(src), np.zeros(1600, np.float32), 16000)
    out = tmp_path / "out.wav"
    assert main(["render", str(src), str(out), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and needle in err, err
    assert not out.exists()
