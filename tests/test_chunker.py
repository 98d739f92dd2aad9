import numpy as np

from streamproc.config import DEFAULT
from streamproc.engine import Core, Engine
from streamproc.frame_model import IdentityModel
from streamproc.stages import Chunker, MelFeatures, OverlapAdd, RatioMask
from streamproc.tasks import resolve


class TimeBlur(IdentityModel):
    """A window-dependent model: each column becomes the mean of itself and its window's mean,
    so predictions for one frame differ between windows and the crossfade matters."""

    def run(self, window):
        return (0.5 * window + 0.5 * window.mean(axis=1, keepdims=True)).astype(np.float32)


def _engine(model):
    core = Core(DEFAULT, [MelFeatures(DEFAULT), Chunker(model), RatioMask(DEFAULT)], OverlapAdd(DEFAULT))
    return Engine(core, 16000)


def test_chunked_identity_is_exact_with_declared_latency(tone):
    model = IdentityModel(DEFAULT.n_mels, context_frames=4, new_frames=3, lookahead_frames=2)
    e = _engine(model)
    assert e.latency_samples == 1023 + (3 - 1 + 2) * 256
    x = tone(16000, 1.0)
    np.testing.assert_allclose(e.render(x), x, atol=1e-5)
    imp = np.zeros(20000)
    imp[7000] = 1
    e.reset()
    y = np.concatenate([e.process(imp[i:i + 77]) for i in range(0, len(imp), 77)])
    assert np.argmax(np.abs(y)) == 7000 + e.latency_samples


def test_chunker_crossfades_and_stays_block_size_invariant(tone):
    x = tone(16000, 1.0)
    e = _engine(TimeBlur(DEFAULT.n_mels, context_frames=6, new_frames=4, lookahead_frames=3))
    whole = e.render(x)
    assert np.max(np.abs(whole - x)) > 1e-3  # the model really changes the sound
    e.reset()
    sizes = [1, 333, 64, 4096, 7, 1000]
    parts, i, k = [], 0, 0
    while i < len(x):
        parts.append(e.push(x[i:i + sizes[k % len(sizes)]]))
        i += sizes[k % len(sizes)]
        k += 1
    streamed = np.concatenate(parts)
    np.testing.assert_allclose(streamed, whole[: len(streamed)], atol=1e-6)


def test_chunker_emits_each_frame_once_in_order():
    model = IdentityModel(4, context_frames=2, new_frames=3, lookahead_frames=2)
    ch = Chunker(model)
    from streamproc.frames import Frames

    feats = np.arange(40, dtype=np.float32).reshape(10, 4)
    out = []
    for i in range(10):
        f = Frames(stft=np.full((1, 3), i, np.complex128), features=feats[i:i + 1])
        out.append(ch.process(f))
    got = Frames.concat([o for o in out if len(o)])
    assert len(got) == 6  # frames 0..5: frame 5 needs frame 7 (lookahead 2), 6..8 wait for 9+
    np.testing.assert_array_equal(got.stft[:, 0].real, np.arange(6))
    np.testing.assert_allclose(got.features, feats[:6], rtol=1e-6)  # crossfade of equal predictions
    assert resolve("resynth", None).recon == "gla"


class Louder(IdentityModel):
    """Raises every bin by the same step on the features' normalised dB scale."""

    def run(self, window):
        return (window + 0.1).astype(np.float32)


def _restored(strength, mags):
    from streamproc.frames import Frames
    from streamproc.stages import Restore

    stage = Restore(Louder(DEFAULT.n_bins), DEFAULT, strength=strength)
    frames = Frames(stft=mags.astype(np.complex128)).with_(magnitude=mags)
    return stage.process(frames).get("magnitude")


def test_restore_strength_is_a_geometric_wet_dry_blend():
    mags = np.random.default_rng(0).uniform(1e-2, 1.0, (5, DEFAULT.n_bins))
    wet, half = _restored(1.0, mags), _restored(0.5, mags)
    assert np.all(wet > 1.05 * mags)  # the net really changes the magnitudes
    np.testing.assert_allclose(np.log(half), 0.5 * (np.log(wet) + np.log(mags)), atol=1e-4)


def test_restore_strength_outside_the_unit_interval_is_refused():
    import pytest
    from streamproc.stages import Restore

    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="strength"):
            Restore(Louder(DEFAULT.n_bins), DEFAULT, strength=bad)


def test_a_task_can_have_its_own_restore_strength():
    """``Profile.restore_strengths``: the restore recon behind that task's model runs at the task's
    own strength; every other task at the profile's."""
    import dataclasses

    from streamproc import spec as S
    from streamproc.recons import build_restore
    from streamproc.stages import Restore
    from streamproc.tasks import resolve

    prof = dataclasses.replace(S.PROFILES["default"], restore_strength=0.6, restore_strengths=(("superres", 0.25),))
    assert prof.restoration_strength("superres") == 0.25 and prof.restoration_strength("synth") == 0.6
    for task, want in (("superres", 0.25), ("synth", 0.6)):
        spec = dataclasses.replace(resolve(task, "restore", "default"), profile=prof)
        stages, _ = build_restore(spec, restore_model=Louder(DEFAULT.n_bins))
        assert [s.strength for s in stages if isinstance(s, Restore)] == [want]


class RunCounter(IdentityModel):
    """Each run predicts its own run number in every cell: which run a frame came from shows."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.runs = 0

    def run(self, window):
        self.runs += 1
        return np.full(window.shape, float(self.runs), np.float32)


def _run_numbers(later_weight):
    from streamproc.frames import Frames

    ch = Chunker(RunCounter(1, context_frames=2, new_frames=2, lookahead_frames=2), later_weight=later_weight)
    f = Frames(stft=np.zeros((12, 3), np.complex128), features=np.zeros((12, 1), np.float32))
    return ch.process(f).features[:, 0]


def test_later_weight_sets_each_runs_share_of_the_frames_two_runs_predict():
    """Every frame after the first run's is predicted twice (the earlier run's lookahead, the
    later run's new frames): the ramp blends 1/3, 2/3 of the later run; a weight w blends w;
    1 keeps the later run alone, 0 the earlier one."""
    ramp = _run_numbers(None)
    np.testing.assert_allclose(ramp[:2], [1, 1])
    np.testing.assert_allclose(ramp[2:6], [1 + 1 / 3, 1 + 2 / 3, 2 + 1 / 3, 2 + 2 / 3], rtol=1e-6)
    np.testing.assert_allclose(_run_numbers(0.85)[2:6], [1.85, 1.85, 2.85, 2.85], rtol=1e-6)
    np.testing.assert_allclose(_run_numbers(1.0)[2:6], [2, 2, 3, 3])
    np.testing.assert_allclose(_run_numbers(0.0)[2:6], [1, 1, 2, 2])


def test_later_weight_outside_the_unit_interval_is_refused():
    import pytest

    for bad in (-0.1, 1.5):
        with pytest.raises(ValueError, match="later_weight"):
            Chunker(IdentityModel(4, 2, 2, 2), later_weight=bad)


def test_a_task_can_have_its_own_later_weight_and_the_engine_stays_block_size_invariant(tone):
    """``Profile.later_weights``: a task's model chunker blends at the task's own weight, every
    other task at the profile's; a weight changes the sound but not streaming = offline."""
    import dataclasses

    from streamproc import spec as S
    from streamproc.tasks import build_mel_front, resolve

    prof = dataclasses.replace(S.PROFILES["default"], later_weight=0.85, later_weights=(("synth", None),))
    assert prof.later_run_weight("separate") == 0.85 and prof.later_run_weight("synth") is None
    model = TimeBlur(DEFAULT.n_mels, context_frames=6, new_frames=4, lookahead_frames=3)
    for task, want in (("separate", 0.85), ("synth", None)):
        spec = dataclasses.replace(resolve(task, None, "default"), profile=prof)
        ch = [s for s in build_mel_front(spec, model) if isinstance(s, Chunker)][0]
        expect = np.arange(1, ch.crossfade + 1) / (ch.crossfade + 1) if want is None else np.full(ch.crossfade, want)
        np.testing.assert_allclose(ch._ramp[:, 0], expect, rtol=1e-6)
    x = tone(16000, 1.0)
    outs = []
    for w in (None, 1.0):
        e = Engine(Core(DEFAULT, [MelFeatures(DEFAULT), Chunker(model, later_weight=w), RatioMask(DEFAULT)],
                        OverlapAdd(DEFAULT)), 16000)
        whole = e.render(x)
        e.reset()
        streamed = np.concatenate([e.push(x[i:i + 333]) for i in range(0, len(x), 333)])
        np.testing.assert_allclose(streamed, whole[: len(streamed)], atol=1e-6)
        outs.append(whole)
    assert np.max(np.abs(outs[0] - outs[1])) > 1e-4  # the weight really changes the output
