"""Fine-tuning options of models.train: --init (start from another run's weights) and
--focus-last (loss on the window's right edge, for models run without lookahead)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("fluidsynth")

from conftest_models import tiny_data, tiny_onnx, tiny_run, train_args  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
LIVE = '{"context_frames": 63, "new_frames": 1, "lookahead_frames": 0}'


def _args(data: Path, out: Path, steps: int, *extra: str) -> list[str]:
    """train_args without --preset: an --init run takes its network from the checkpoint."""
    a = train_args("separate", data, out, steps, *extra)
    i = a.index("--preset")
    return a[:i] + a[i + 2:]


def _ckpt(path: Path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_init_starts_from_the_checkpoint_weights(tmp_path):
    from models.train import main

    init = tiny_run("separate")
    src = _ckpt(init)
    # lr 0: the weights stay those of the init checkpoint (only BatchNorm's running statistics move)
    assert main(_args(tiny_data("separate"), tmp_path, 2, "--init", str(init), "--lr", "0", "--net", LIVE)) == 0
    ck = _ckpt(tmp_path / "ckpt_last.pt")
    for part in ("G", "D"):
        for k, v in src[part].items():
            if "running" not in k and "num_batches" not in k:
                assert torch.equal(ck[part][k], v), (part, k)
    net, base = json.loads(ck["net"]), json.loads(src["net"])
    assert (net["context_frames"], net["new_frames"], net["lookahead_frames"]) == (63, 1, 0)
    assert {k: v for k, v in net.items() if not k.endswith("_frames")} == \
           {k: v for k, v in base.items() if not k.endswith("_frames")}
    s = json.loads(ck["summary"])
    assert s["steps"] == 2 and s["init"]["run"] == init.parent.name and s["init"]["steps"] == src["step"]
    assert json.loads((tmp_path / "config.json").read_text())["lookahead_frames"] == 0
    # lr > 0 moves them
    assert main(_args(tiny_data("separate"), tmp_path / "moved", 2, "--init", str(init))) == 0
    moved = _ckpt(tmp_path / "moved" / "ckpt_last.pt")
    assert any(not torch.equal(moved["G"][k], v) for k, v in src["G"].items() if v.is_floating_point())


def test_init_turns_an_l1_run_into_a_cgan(tmp_path):
    """--init of the L1-only CNN with --loss gan: its generator, now trained against a PatchGAN."""
    from models.train import main

    init = tiny_run("separate", "l1")
    src = _ckpt(init)
    assert main(_args(tiny_data("separate"), tmp_path, 2, "--init", str(init), "--loss", "gan", "--lr", "0")) == 0
    ck = _ckpt(tmp_path / "ckpt_last.pt")
    assert json.loads(src["net"])["loss"] == "l1" and json.loads(ck["net"])["loss"] == "gan"
    for k, v in src["G"].items():
        if "running" not in k and "num_batches" not in k:
            assert torch.equal(ck["G"][k], v), k
    logged = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert all("loss_d" in m and "loss_g_adv" in m for m in logged)
    assert json.loads(ck["summary"])["init"]["loss"] == "l1"


def test_init_focus_run_resumes_exactly(tmp_path):
    from models.train import main

    init, data = str(tiny_run("separate")), tiny_data("separate")
    extra = ("--init", init, "--focus-last", "4", "--focus-rest", "0.1")
    assert main(_args(data, tmp_path / "a", 4, *extra)) == 0
    assert main(_args(data, tmp_path / "b", 2, *extra)) == 0
    assert main(_args(data, tmp_path / "b", 4, *extra, "--resume")) == 0
    a, b = _ckpt(tmp_path / "a" / "ckpt_last.pt"), _ckpt(tmp_path / "b" / "ckpt_last.pt")
    for k in a["G"]:
        assert torch.equal(a["G"][k], b["G"][k]), k
    s = json.loads(b["summary"])
    assert s["init"]["run"] == Path(init).parent.name and s["focus_last"] == 4 and s["focus_rest"] == 0.1


@pytest.mark.parametrize("last", [1, 5])
def test_focus_last_l1_is_the_right_edge_error(tmp_path, last):
    """The logged L1 of step 1 is the mean error of the last K columns only (rest weight 0),
    recomputed here from the same batch, dropout seed and starting weights."""
    from models.data import PairedFrames
    from models.networks import NetConfig, build_generator
    from models.train import main

    init, data = tiny_run("separate"), tiny_data("separate")
    assert main(_args(data, tmp_path, 1, "--init", str(init), "--focus-last", str(last))) == 0
    logged = json.loads((tmp_path / "metrics.jsonl").read_text().splitlines()[0])["loss_l1"]

    src = _ckpt(init)
    cfg = NetConfig.from_json(src["net"])
    G = build_generator(cfg)
    G.load_state_dict(src["G"])
    G.train()
    xb, yb = PairedFrames(data).batch(np.random.default_rng([0, 0, 1]), 2, cfg.width)
    torch.manual_seed(1)
    with torch.no_grad():
        fake = G(torch.from_numpy(xb)).numpy()
    err = np.abs(fake - yb)
    assert logged == pytest.approx(err[..., -last:].mean(), abs=2e-5)
    assert abs(err.mean() - err[..., -last:].mean()) > 1e-4  # the whole-window mean differs: the test can fail


@pytest.mark.parametrize("case", ["net_size", "loss", "preset", "width", "focus_wide", "focus_zero", "not_ckpt"])
def test_init_bad_input(case, tmp_path):
    init, data = str(tiny_run("separate")), str(tiny_data("separate"))
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a checkpoint")
    extra = {"net_size": ["--init", init, "--net", '{"ngf": 4}'],
             "loss": ["--init", init, "--loss", "l1"],
             "preset": ["--init", init, "--preset", "tiny"],
             "width": ["--init", init, "--net", '{"lookahead_frames": 0}'],
             "focus_wide": ["--init", init, "--focus-last", "65"],
             "focus_zero": ["--init", init, "--focus-last", "0"],
             "not_ckpt": ["--init", str(bogus)]}[case]
    out = tmp_path / "run"
    r = subprocess.run([sys.executable, "-m", "models.train", "--task", "separate", "--data", data, "--steps", "1",
                        "--out", str(out), "--quiet", *extra], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr and "error: " in r.stderr.strip().splitlines()[-1], r.stderr
    assert not (out / "ckpt_last.pt").exists()


def test_amplitude_l1_weighs_loud_bins_and_is_scale_free():
    """--amp-weight's term: the same dB error costs more on a loud bin than on a quiet one, and
    an example turned down as a whole (target and estimate alike) costs the same."""
    from models.train import amplitude_l1

    y = torch.full((1, 1, 4, 4), -0.5)
    y[..., 0, 0] = 0.5                      # one loud bin in a quiet image
    step = 0.05                             # 3 dB in image units (120 dB over [-1, 1])
    loud, quiet = y.clone(), y.clone()
    loud[..., 0, 0] += step
    quiet[..., 3, 3] += step
    assert amplitude_l1(loud, y) > 10 * amplitude_l1(quiet, y) > 0
    assert amplitude_l1(y, y) == 0
    down = -0.25                            # 15 dB quieter throughout
    assert torch.isclose(amplitude_l1(loud + down, y + down), amplitude_l1(loud, y), rtol=1e-4)


def test_amp_weight_is_recorded_and_trains(tmp_path):
    from models.train import main

    init = tiny_run("separate")
    assert main(_args(tiny_data("separate"), tmp_path, 2, "--init", str(init), "--amp-weight", "1")) == 0
    s = json.loads(_ckpt(tmp_path / "ckpt_last.pt")["summary"])
    assert s["amp_weight"] == 1.0
    rows = [json.loads(r) for r in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert "loss_amp" in rows[-1] and rows[-1]["loss_amp"] > 0


def test_amp_weight_must_not_be_negative(tmp_path, capsys):
    from models.train import main

    with pytest.raises(SystemExit):
        main(_args(tiny_data("separate"), tmp_path, 2, "--amp-weight", "-1"))
    assert "--amp-weight must not be negative" in capsys.readouterr().err


def test_amplitude_l1_follows_the_column_weights():
    """With --focus-last the amplitude term, like the image L1, counts only the weighted columns."""
    from models.train import amplitude_l1, column_weights

    y = torch.zeros((1, 1, 4, 8))
    early = y.clone()
    early[..., :4] += 0.1                    # an error in the first half only
    assert amplitude_l1(early, y) > 0
    assert amplitude_l1(early, y, column_weights(8, 4, 0.0)) == 0
    assert amplitude_l1(early, y, column_weights(8, 4, 0.5)) > 0


def test_change_weights_cover_the_frames_around_a_note_or_voicing_change():
    """--change-weight: the columns near a change of note (2 rows or more) or of voicing weigh
    more; a bend of one row (a quarter tone) and steady notes do not."""
    from models.train import change_weights

    y = torch.full((1, 1, 16, 20), -1.0)
    y[..., 4, 0:6] = 1.0        # a note
    y[..., 5, 6:10] = 1.0       # bent up one row: the same note
    y[..., 9, 10:15] = 1.0      # a new note (4 rows up) at column 10; unvoiced from 15
    w = change_weights(y, 3.0, 1).flatten()
    assert w.shape == (20,)
    assert torch.all(w[[8, 9, 10, 11, 13, 14, 15, 16]] == 3.0)   # around the note and voicing changes
    assert torch.all(w[[0, 1, 2, 3, 4, 5, 6, 7, 18, 19]] == 1.0)  # steady note, the bend, steady silence
    assert torch.all(change_weights(y, 3.0, 0).flatten()[[9, 10, 14, 15]] == 3.0)
    assert torch.all(change_weights(y, 3.0, 0).flatten()[[8, 11, 13, 16]] == 1.0)


def test_change_weight_is_recorded_and_only_for_pitch(tmp_path, capsys):
    from models.train import main

    assert main(train_args("pitch", tiny_data("pitch"), tmp_path, 2, "--loss", "l1", "--change-weight", "3",
                           "--change-reach", "2")) == 0
    s = json.loads(_ckpt(tmp_path / "ckpt_last.pt")["summary"])
    assert (s["change_weight"], s["change_reach"]) == (3.0, 2)
    with pytest.raises(SystemExit):
        main(train_args("separate", tiny_data("separate"), tmp_path / "s", 2, "--change-weight", "3"))
    assert "--change-weight applies to pitch maps only" in capsys.readouterr().err


@pytest.mark.parametrize("task", ["separate", "restore"])
def test_generator_from_onnx_rebuilds_the_exported_weights(task):
    """``models.from_onnx``: named weights come back as they were trained; the convolutions the
    exporter folded a BatchNorm into keep their shape, and the rebuilt network computes what the
    file does, in eval mode, with or without calibration batches."""
    from export.onnx import load_generator
    from models.from_onnx import generator_from_onnx

    ck = tiny_run(task)
    onnx_path = tiny_onnx(task)
    G0, cfg0, _ = load_generator(ck)
    x = torch.from_numpy(np.random.default_rng(1).uniform(-1, 1, (2, 1, cfg0.rows_in, cfg0.width)).astype(np.float32))
    for calibrate in (None, lambda cfg: [x]):
        G, cfg, summary = generator_from_onnx(onnx_path, calibrate)
        assert cfg == cfg0 and summary["steps"] == 3
        with torch.no_grad():
            assert torch.allclose(G(x), G0(x), atol=1e-4)
        last = [k for k in G0.state_dict() if k.endswith(".weight")][-1]   # the output layer: never folded
        assert torch.equal(G.state_dict()[last], G0.state_dict()[last])


def test_init_from_an_onnx_file_fine_tunes_its_generator(tmp_path, capsys):
    """``--init FILE.onnx``: the run starts from the file's generator (a cGAN with a fresh
    discriminator), records the file's name; a file that is not a model is one clear error."""
    from models.train import main

    data = tiny_data("separate")
    onnx_path = tiny_onnx("separate")
    assert main(_args(data, tmp_path / "a", 2, "--init", str(onnx_path))) == 0
    s = json.loads(_ckpt(tmp_path / "a" / "ckpt_last.pt")["summary"])
    assert s["init"]["run"] == onnx_path.name and s["init"]["steps"] == 3
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    assert main(_args(data, tmp_path / "b", 2, "--init", str(bad))) == 2
    assert "not a readable ONNX file" in capsys.readouterr().err
    assert main(_args(data, tmp_path / "c", 2, "--init", str(tmp_path / "missing.onnx"))) == 2
    assert "no model file" in capsys.readouterr().err
