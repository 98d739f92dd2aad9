"""bench.soundfonts: shared samples read as near, different instruments as far."""
from __future__ import annotations

import pytest

from bench import soundfonts as S
from models import render as R


def _installed(*names: str) -> dict:
    paths = {n: R.soundfont_path(n) for n in names}
    missing = [str(p) for p in paths.values() if not p.is_file()]
    if missing:
        pytest.skip(f"soundfont not installed: {', '.join(missing)}")
    return paths


def test_a_soundfont_is_at_zero_from_itself_and_far_from_another_violin():
    paths = _installed("FluidR3_GM", "TimGM6mb")
    d = S.distances({"a": paths["FluidR3_GM"], "b": paths["FluidR3_GM"], "c": paths["TimGM6mb"]}, 40)
    assert d[0, 1] == pytest.approx(0.0, abs=1e-6)
    assert (d == d.T).all()
    assert d[0, 2] > 5.0


@pytest.mark.parametrize("programs", ["x", "128", ""])
def test_bad_programs_are_one_line(programs):
    with pytest.raises(SystemExit):
        S.main(["--programs", programs])
