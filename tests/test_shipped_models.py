"""What ships in streamproc/models_data: every task's model, within the size budget, each with
a model card, each trained (not a placeholder) and loadable by the runtime without torch."""
import json

import pytest

from streamproc.onnx_model import MODELS_DIR, load_model, read_metadata
from streamproc.tasks import RESTORE_MODEL, model_tasks, shipped_model

SHIPPED = sorted(MODELS_DIR.glob("*.onnx"))


def test_every_model_task_and_the_restoration_net_ship():
    for task in (*model_tasks(), RESTORE_MODEL):
        assert shipped_model(task) is not None, task
    assert (MODELS_DIR / "separate-cnn.onnx").is_file()  # the CNN baseline


def test_size_budget():
    """Issue 10's budget (it raised the first models' 8 MB / 40 MB): each file <= 16 MB, all <= 64 MB."""
    sizes = {p.name: p.stat().st_size for p in [*SHIPPED, *MODELS_DIR.glob("*.npz")]}
    assert all(b <= 16_000_000 for b in sizes.values()), sizes
    assert sum(sizes.values()) <= 64_000_000, sizes


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_each_model_is_trained_documented_and_loads(path):
    md = read_metadata(path)
    training = json.loads(md["training"])
    assert training["steps"] >= 1000 and training["data_minutes"] >= 30
    assert set(training["soundfonts"]) <= {"FluidR3_GM", "TimGM6mb", "sf_GMbank"}  # training soundfonts only
    # export.ensemble: each member's data too, and each weight-averaged member's own members
    members = json.loads(md.get("members", "[]")) + json.loads(md.get("weights_averaged_from", "[]"))
    members += [m for member in members for m in member.get("weights_averaged_from", [])]
    for member in members:
        assert set(member["training"]["soundfonts"]) <= {"FluidR3_GM", "TimGM6mb", "sf_GMbank"}
        assert member["training"]["steps"] >= 1000
    card = path.with_suffix(".md")
    assert card.is_file(), f"{path.name} has no model card"
    text = card.read_text()
    assert "test split" in text.lower() and str(training["steps"]) in text
    m = load_model(path, task=md["task"])
    assert m.n_inputs == int(md["n_inputs"])


def test_offline_rendering_separates_with_the_wide_model_the_real_time_profiles_cannot_afford():
    from streamproc.spec import PROFILES

    assert shipped_model("separate", PROFILES["quality"], "mask").name == "separate-wide.onnx"
    for profile in ("default", "low-latency"):
        assert shipped_model("separate", PROFILES[profile], "mask").name == "separate.onnx"
    wide = json.loads(read_metadata(MODELS_DIR / "separate-wide.onnx")["network"])
    small = json.loads(read_metadata(MODELS_DIR / "separate.onnx")["network"])
    assert wide["ngf"] > small["ngf"]


def test_synth_runs_its_zero_lookahead_model_where_its_model_gets_no_lookahead():
    from streamproc.spec import PROFILES

    for profile, recon in (("low-latency", "gla"), ("low-latency", "restore"), ("live", "gla")):
        assert PROFILES[profile].chunking("synth", recon)[1] in (0, None)
        assert shipped_model("synth", PROFILES[profile], recon).name == "synth-live.onnx", (profile, recon)
    for profile, recon in (("low-latency", "wavenet"), ("default", "gla"), ("quality", "restore")):
        assert shipped_model("synth", PROFILES[profile], recon).name == "synth.onnx", (profile, recon)
    live = json.loads(read_metadata(MODELS_DIR / "synth-live.onnx")["network"])
    assert live["lookahead_frames"] == 0 and live["new_frames"] == 1


def test_offline_pitch_tracking_runs_the_ensemble_and_the_real_time_profiles_the_single_net():
    from streamproc.spec import PROFILES

    assert shipped_model("pitch", PROFILES["quality"]).name == "pitch-ensemble.onnx"
    assert shipped_model("pitch", PROFILES["default"]).name == "pitch.onnx"
    members = json.loads(read_metadata(MODELS_DIR / "pitch-ensemble.onnx")["members"])
    assert [m["file"] for m in members][0] == "pitch.onnx" and len(members) == 3
    assert all(set(m["training"]["soundfonts"]) <= {"FluidR3_GM", "TimGM6mb", "sf_GMbank"} for m in members)
