"""The frame contract: stages declare the Frames fields they read and write, Core checks the chain."""
import numpy as np
import pytest

from streamproc.config import DEFAULT
from streamproc.engine import Core
from streamproc.frames import FIELDS, FrameContractError, Frames
from streamproc.pitch_stages import PitchDecode, SineSynth
from streamproc.pitchmap import DEFAULT_LAYOUT
from streamproc.registry import task
from streamproc.spec import resolve
from streamproc.stages import Descale, GriffinLim, MelFeatures, OverlapAdd, RatioMask


def test_a_chain_missing_descale_fails_at_construction_naming_the_field():
    with pytest.raises(FrameContractError, match=r"GriffinLim reads 'magnitude', which no stage before it writes") as e:
        Core(DEFAULT, [MelFeatures(DEFAULT), GriffinLim(DEFAULT)], OverlapAdd(DEFAULT))
    assert "StftFramer -> MelFeatures -> GriffinLim -> OverlapAdd" in str(e.value) and "\n" not in str(e.value)
    Core(DEFAULT, [MelFeatures(DEFAULT), Descale(DEFAULT), GriffinLim(DEFAULT)], OverlapAdd(DEFAULT))


def test_the_synthesiser_and_undeclared_stages_are_checked_too():
    with pytest.raises(FrameContractError, match="SineSynth reads 'pitch'"):
        Core(DEFAULT, [MelFeatures(DEFAULT)], SineSynth(DEFAULT))
    with pytest.raises(FrameContractError, match="RatioMask reads 'features', 'input_features'"):
        Core(DEFAULT, [RatioMask(DEFAULT)], OverlapAdd(DEFAULT))

    class Quiet:
        latency_frames = 0

        def process(self, frames):
            return frames

        def reset(self):
            pass

    with pytest.raises(FrameContractError, match="Quiet declares no 'reads'"):
        Core(DEFAULT, [Quiet()], OverlapAdd(DEFAULT))
    Quiet.reads, Quiet.writes = ("stft",), ("volume",)
    with pytest.raises(FrameContractError, match="'volume', which is no Frames field"):
        Core(DEFAULT, [Quiet()], OverlapAdd(DEFAULT))


def test_every_registered_pipeline_satisfies_the_contract(monkeypatch):
    """Every registered task x reconstruction builds (Core checks its chain) from declared,
    real fields."""
    import streamproc.recons
    from streamproc.registry import task_names
    from streamproc.tasks import build_core

    from standins import identity_restore_model, small_vocoder, stand_in_model

    monkeypatch.setattr(streamproc.recons, "load_shipped_vocoder", small_vocoder)
    built = 0
    for name in task_names():
        for recon in task(name).recons:
            core = build_core(resolve(name, recon, "quality"), stand_in_model(name), identity_restore_model())
            for s in (*core.stages, core.synth):
                assert set(s.reads) <= set(FIELDS) and set(getattr(s, "writes", ())) <= set(FIELDS)
            built += 1
    assert built >= 15


def test_pitch_has_its_own_field_and_features_keep_the_map():
    pm = np.full((3, DEFAULT_LAYOUT.n_bins), -1.0, np.float32)
    pm[np.arange(3), [10, 20, 30]] = 1.0
    out = PitchDecode(DEFAULT, DEFAULT_LAYOUT).process(Frames(stft=np.zeros((3, DEFAULT.n_bins), complex), features=pm))
    assert out.features is pm
    np.testing.assert_allclose(out.pitch, [[41.0, 1.0], [46.0, 1.0], [51.0, 1.0]])
    with pytest.raises(FrameContractError, match="'magnitude'"):
        Frames(stft=np.zeros((1, 3), complex)).get("magnitude")


def test_latency_names_carry_their_unit():
    core = Core(DEFAULT, [MelFeatures(DEFAULT), Descale(DEFAULT), GriffinLim(DEFAULT, lookahead=2)], OverlapAdd(DEFAULT))
    assert core.latency_frames == 2
    assert core.latency_samples == (DEFAULT.hop - 1) + 2 * DEFAULT.hop + (DEFAULT.n_fft - DEFAULT.hop)
