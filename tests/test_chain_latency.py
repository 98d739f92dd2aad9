"""The exact latency of frame stages in series (frames.chain_latency_frames): each stage's
declared schedule is what it really does, the composed worst case equals a brute-force count
far past the checked horizon, and a stage without a schedule falls back to its own worst case."""
import numpy as np
import pytest

from streamproc.config import DEFAULT
from streamproc.engine import Core
from streamproc.frame_model import IdentityModel
from streamproc.frames import FrameSchedule, Frames, chain_latency_frames, schedule_of
from streamproc.stages import Chunker, Descale, GriffinLim, MelFeatures, OverlapAdd, Restore


def _brute_force(schedules, n_frames=400):
    """Most later frames any of the first frames waits for, by counting arrivals one by one."""
    left_at = []  # left_at[k]: input frames in when output frame k left
    out = 0
    for n in range(1, n_frames + 1):
        e = n
        for s in schedules:
            e = s.emitted(e)
        left_at.extend([n] * (e - out))
        out = e
    assert len(left_at) > n_frames // 2, "the horizon left too few frames to judge"
    return max(n - (k + 1) for k, n in enumerate(left_at))


def test_the_composed_worst_case_equals_a_brute_force_count():
    rng = np.random.default_rng(0)
    for _ in range(300):
        chain = [FrameSchedule(int(rng.integers(1, 9)), int(rng.integers(0, 17)))
                 for _ in range(int(rng.integers(1, 5)))]
        got = chain_latency_frames(chain)
        assert got == _brute_force(chain), chain
        assert got <= sum(s.latency_frames for s in chain)


def test_chunkers_in_phase_never_incur_both_waits():
    # the task model every 2 frames with 2 of lookahead hands the net (2 new, none ahead) whole pairs
    assert chain_latency_frames([FrameSchedule(2, 2), FrameSchedule(2, 0), FrameSchedule(1, 1)]) == 4
    assert sum(s.latency_frames for s in (FrameSchedule(2, 2), FrameSchedule(2, 0), FrameSchedule(1, 1))) == 5
    # out of phase (3 then 2), the net's wait does add: frames 3.. arrive in threes
    assert chain_latency_frames([FrameSchedule(3, 0), FrameSchedule(2, 0)]) == 3
    assert chain_latency_frames([]) == 0


def _emissions(stage, cfg, rng, n=90):
    """(frames in, frames out) after each push of a random batch into ``stage``."""
    got, n_in, n_out = [], 0, 0
    while n_in < n:
        k = int(rng.integers(0, 7))
        frames = Frames(stft=np.zeros((k, cfg.n_bins), complex),
                        features=rng.standard_normal((k, cfg.n_mels)).astype(np.float32),
                        magnitude=rng.random((k, cfg.n_bins)) + 0.1)
        n_in += k
        n_out += len(stage.process(frames))
        got.append((n_in, n_out))
    return got


@pytest.mark.parametrize("make", [
    lambda: Chunker(IdentityModel(DEFAULT.n_mels, 4, 3, 2)),
    lambda: Chunker(IdentityModel(DEFAULT.n_mels, 40, 8, 16), new=2, lookahead=2),
    lambda: Restore(IdentityModel(DEFAULT.n_bins, 40, 8, 16), DEFAULT, new=4, lookahead=4),
    lambda: GriffinLim(DEFAULT, lookahead=3, iterations=1),
    lambda: GriffinLim(DEFAULT, lookahead=0, iterations=1),
    lambda: Descale(DEFAULT),
], ids=["chunker-own", "chunker-2+2", "restore-4+4", "gla-3", "gla-0", "descale"])
def test_each_stage_emits_as_its_schedule_says(make):
    stage = make()
    schedule = stage.schedule
    assert schedule.latency_frames == stage.latency_frames
    for seed in range(3):
        stage.reset()
        for n_in, n_out in _emissions(stage, DEFAULT, np.random.default_rng(seed)):
            assert n_out == schedule.emitted(n_in), (n_in, n_out)


class _Delay:
    """A frame stage with no schedule: it holds ``latency_frames`` frames back."""

    reads = ("stft",)
    writes = ()

    def __init__(self, frames: int) -> None:
        self.latency_frames = frames
        self.reset()

    def reset(self) -> None:
        self._held: list[Frames] = []

    def process(self, frames: Frames) -> Frames:
        queued = Frames.concat([*self._held, frames]) if self._held else frames
        cut = max(0, len(queued) - self.latency_frames)
        self._held = [queued.slice(cut, len(queued))]
        return queued.slice(0, cut)


def test_a_stage_without_a_schedule_counts_as_its_own_worst_case():
    assert schedule_of(_Delay(3)) == FrameSchedule(1, 3)
    model = IdentityModel(DEFAULT.n_mels, 40, 8, 16)
    core = Core(DEFAULT, [MelFeatures(DEFAULT), Chunker(model, new=2, lookahead=2), _Delay(1),
                          Descale(DEFAULT), GriffinLim(DEFAULT, lookahead=1, iterations=1)], OverlapAdd(DEFAULT))
    assert core.latency_frames == core.latency_frames_bound == 3 + 1 + 1
    # in phase with the chunker, a declared schedule would be worth a frame
    core = Core(DEFAULT, [MelFeatures(DEFAULT), Chunker(model, new=2, lookahead=2), Descale(DEFAULT),
                          Restore(IdentityModel(DEFAULT.n_bins, 4, 2, 0), DEFAULT),
                          GriffinLim(DEFAULT, lookahead=1, iterations=1)], OverlapAdd(DEFAULT))
    assert (core.latency_frames, core.latency_frames_bound) == (4, 5)
    assert core.latency_samples == (DEFAULT.hop - 1) + 4 * DEFAULT.hop + (DEFAULT.n_fft - DEFAULT.hop)
