"""bench.timbre_eval's per-model chunking (--chunk NAME=NEW,LOOKAHEAD)."""
from __future__ import annotations

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
