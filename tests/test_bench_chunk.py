"""Benchmarks at another chunking than the profile's: bench.timbre_eval --chunk NAME=NEW,LOOKAHEAD,
bench.quality --pitch-chunk NEW,LOOKAHEAD (and --pitch-model)."""
from __future__ import annotations

import numpy as np
import pytest

from bench import timbre_eval as T
from streamproc.spec import shipped_model


def test_chunk_replaces_the_profile_chunking():
    model = shipped_model("separate")
    if model is None:
        pytest.skip("no shipped separate model")
    own = T.processor("separate", "mask", str(model), "quality")
    live = T.processor("separate", "mask", str(model), "quality", (1, 0))
    # quality runs the model's own 8 new + 16 lookahead: (new - 1 + lookahead) hops more than (1, 0)
    assert own.latency_for(16000) - live.latency_for(16000) == (8 - 1 + 16) * 256
    assert live.spec.profile.chunking("separate", "mask") == (1, 0)
    assert live.spec.profile.gla_lookahead == own.spec.profile.gla_lookahead  # the rest of the profile stays


@pytest.mark.parametrize("spec, msg", [("nope=1,0", "no --model named"), ("a=1", "two integers"),
                                       ("a=x,0", "two integers"), ("a=0,0", "NEW must be")])
def test_bad_chunk_is_one_line(spec, msg):
    with pytest.raises(SystemExit, match=msg):
        T._chunks([spec], {"a": "a.onnx"})


def test_rechunked_pitch_model_runs_without_lookahead():
    from bench.quality import _Rechunked
    from streamproc.onnx_model import load_model
    from streamproc.stages import Chunker

    path = shipped_model("pitch")
    if path is None:
        pytest.skip("no shipped pitch model")
    m = load_model(path, task="pitch")
    r = _Rechunked(m, 1, 0)
    assert (r.context_frames, r.new_frames, r.lookahead_frames) == (63, 1, 0) and r.n_outputs == m.n_outputs
    assert Chunker(r).latency_frames == 0 and Chunker(m).latency_frames == m.new_frames - 1 + m.lookahead_frames


@pytest.mark.parametrize("args", [["--pitch-chunk", "0,1"], ["--pitch-chunk", "1"], ["--pitch-chunk", "a,b"],
                                  ["--pitch-model", "x=/no/such.onnx"], ["--pitch-model", "noequals"]])
def test_quality_pitch_options_bad_input(args, capsys):
    from bench.quality import main

    with pytest.raises(SystemExit) as e:
        main(["--tasks", "pitch", "--peers", "none", *args])
    assert e.value.code == 2 and "error:" in capsys.readouterr().err


@pytest.mark.parametrize("spec", ["synth:x=/no/such.onnx", "pitch:x=streamproc/models_data/pitch.onnx",
                                  "synth=streamproc/models_data/synth.onnx", "bogus:x=streamproc/models_data/synth.onnx"])
def test_quality_model_option_bad_input(spec, capsys):
    from bench.quality import main

    with pytest.raises(SystemExit) as e:
        main(["--tasks", "synth", "--model", spec])
    assert e.value.code == 2 and "--model" in capsys.readouterr().err


def test_quality_candidates_are_named_per_recon():
    from bench.quality import candidates
    from streamproc.onnx_model import MODELS_DIR

    procs, missing = candidates("synth", "quality", (("cand", str(MODELS_DIR / "synth.onnx")),))
    assert {"cand-gla", "cand-restore"} <= set(procs) | set(missing)
    assert all(k.startswith("cand-") for k in [*procs, *missing])


def test_standard_oracles_pass_a_lone_violin_and_cut_what_is_not_it():
    from bench.oracle_masks import standard_oracles

    t = np.arange(16000) / 16000
    v = 0.3 * np.sin(2 * np.pi * 440 * t)
    alone = standard_oracles(v, v)
    assert alone["oracle_mel"] > 40 and alone["oracle_irm"] > 40
    p = 0.3 * np.sin(2 * np.pi * 3000 * t)  # far from the violin: both masks remove it
    mixed = standard_oracles(v + p, v)
    assert mixed["oracle_irm"] > 30 and mixed["oracle_mel"] > 20


def test_restore_candidate_runs_behind_the_shipped_task_model():
    """bench.quality --model restore:NAME=PATH: a restoration net scored as NAME-restore."""
    from bench.quality import candidates
    from streamproc.onnx_model import MODELS_DIR

    other = MODELS_DIR / "restore-live.onnx"
    if shipped_model("superres") is None or not other.is_file():
        pytest.skip("no shipped superres or restore-live model")
    procs, missing = candidates("superres", "quality", (), (("live", str(other)),))
    assert not missing and list(procs) == ["live-restore"]
    p = procs["live-restore"]
    assert p.recon == "restore" and p._restore_model.path.name == "restore-live.onnx"
    bad, why = candidates("superres", "quality", (), (("nope", "/no/such.onnx"),))
    assert not bad and "nope-restore" in why
