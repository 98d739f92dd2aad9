"""The engine's contracts over every registered task x reconstruction x profile, with stand-in
models (tests/standins.py): streaming equals offline at random block sizes, and the declared
latency is tight (one sample less and the engine underruns). The README's engine latency
figures are checked against the engine itself.

The grid is walked whole for the cheap checks; the host rates (16, 44.1, 48 kHz) are spread
over it so that each task, reconstruction and profile meets a resampling engine too."""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest

import streamproc.recons
from streamproc.config import DEFAULT
from streamproc.engine import Core, Engine
from streamproc.frames import schedule_of
from streamproc.registry import lowdelay_recons, task, task_names
from streamproc.spec import PROFILES, resolve
from streamproc.tasks import build_core, build_engine

from standins import identity_restore_model, push_blocks, small_vocoder, stand_in_model

GRID = [(t, r, p) for t in task_names() for r in task(t).recons for p in PROFILES
        if PROFILES[p].low_delay is None or r in lowdelay_recons()]  # the live profile runs some only
RATES = (16000, 44100, 48000)
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _random_vocoder(monkeypatch):
    monkeypatch.setattr(streamproc.recons, "load_shipped_vocoder", small_vocoder)


def _core(name: str, recon: str, profile: str) -> Core:
    return build_core(resolve(name, recon, profile), stand_in_model(name), identity_restore_model())


def _signal(rate: int, seconds: float) -> np.ndarray:
    """A stepped harmonic tone with a silent start (every stand-in hears something change)."""
    t = np.arange(int(rate * seconds)) / rate
    f0 = 220.0 * 2 ** (np.floor(t * 6) % 5 / 12)
    ph = 2 * np.pi * np.cumsum(f0) / rate
    x = sum(np.sin(k * ph) / k for k in range(1, 6)) * 0.2
    return x * (t > 0.05) + 0.002 * np.random.default_rng(0).standard_normal(len(t))


def test_the_grid_covers_every_task_recon_and_profile():
    assert {t for t, _, _ in GRID} == set(task_names())
    assert {r for _, r, _ in GRID} == {r for t in task_names() for r in task(t).recons}
    assert {r for _, r, p in GRID if p == "live"} == set(lowdelay_recons())
    assert {p for _, _, p in GRID} == set(PROFILES)


@pytest.mark.parametrize("profile", list(PROFILES))
def test_a_profiles_default_reconstruction_is_one_the_task_offers_and_runs_there(profile):
    """Every task resolves without --recon in every profile, to the profile's own choice where
    it names one (a typo there would otherwise surface only when a user runs that task)."""
    own = dict(PROFILES[profile].recons)
    assert set(own) <= set(task_names())
    for name in task_names():
        spec = resolve(name, None, profile)
        assert spec.recon == own.get(name, task(name).recons[0])
        assert GRID.count((name, spec.recon, profile)) == 1


def test_synth_defaults_to_restore_where_it_measured_better_and_an_explicit_recon_wins():
    assert resolve("synth", None, "default").recon == "gla"
    assert resolve("synth", None, "quality").recon == "restore"
    assert resolve("synth", None, "low-latency").recon == "gla"
    assert resolve("synth", "gla", "quality").recon == "gla"
    assert resolve("separate", None, "quality").recon == "mask"


def test_a_profile_can_name_a_restoration_net_for_one_task_and_the_others_keep_the_shared_one(
        tmp_path, monkeypatch):
    import dataclasses

    import streamproc.spec as spec

    for stem in ("restore", "restore-live", "restore-superres"):
        (tmp_path / f"{stem}.onnx").write_bytes(b"")
    monkeypatch.setattr(spec, "MODELS_DIR", tmp_path)
    prof = dataclasses.replace(PROFILES["quality"], models=(("restore/superres", "restore-superres"),))
    assert spec.shipped_model("restore", prof, "superres").name == "restore-superres.onnx"
    assert spec.shipped_model("restore", prof, "synth").name == "restore.onnx"
    assert spec.shipped_model("restore", prof).name == "restore.onnx"
    live = dataclasses.replace(prof, models=(("restore/superres", "restore-superres"), ("restore", "restore-live")))
    assert spec.shipped_model("restore", live, "separate").name == "restore-live.onnx"
    (tmp_path / "restore-superres.onnx").unlink()  # named but not shipped: the profile's own, then the shared
    assert spec.shipped_model("restore", live, "superres").name == "restore-live.onnx"
    assert spec.shipped_model("restore", prof, "superres").name == "restore.onnx"


@pytest.mark.parametrize("i", range(len(GRID)), ids=["/".join(g) for g in GRID])
def test_streaming_equals_offline_at_random_block_sizes(i):
    name, recon, profile = GRID[i]
    rate = RATES[i % len(RATES)]
    e = Engine(_core(name, recon, profile), rate, rate, PROFILES[profile].resample_quality)
    x = _signal(rate, 0.25 + e.latency_samples / rate)
    whole = push_blocks(e, x, [len(x)])
    assert len(whole) == len(x) - e.latency_samples
    assert np.abs(whole).max() > 1e-3, "the pipeline produced silence: nothing was compared"
    sizes = [int(s) for s in np.random.default_rng(i).integers(1, 900, size=30)]
    y = push_blocks(e, x, sizes)
    assert len(y) == len(whole)
    np.testing.assert_allclose(y, whole, atol=1e-6, rtol=0)


@pytest.mark.parametrize("i", range(len(GRID)), ids=["/".join(g) for g in GRID])
def test_declared_latency_is_tight(i):
    """At the model rate, sample by sample: the declared latency never runs short, and one
    sample less does (so it is not over-declared either: over-declared latency would pass
    every behavioural test unseen). The stream is long enough for every frame's wait to have
    come round: past the chunkers' transient and a whole period of their batches (the worst
    frame of chunkers in series need not be the first), plus the worst wait."""
    name, recon, profile = GRID[i]
    _assert_tight(_core(name, recon, profile))


# Where chunkers meet in series (restore after a task model), the exact chain latency is less
# than the sum of the stages' worst cases with the shipped chunking (8 + 16, the restoration
# net 40 + 8 + 16) but not with the stand-ins': those chains are checked with identity models
# chunked like the shipped ones.
SHIPPED_CHUNKING = [(t, p) for t in task_names() if "restore" in task(t).recons and task(t).model_output == "mel"
                    for p in PROFILES if PROFILES[p].low_delay is None]


@pytest.mark.parametrize("name, profile", SHIPPED_CHUNKING, ids=["/".join(c) for c in SHIPPED_CHUNKING])
def test_declared_latency_is_tight_with_the_shipped_chunking(name, profile):
    from streamproc.frame_model import IdentityModel

    model = IdentityModel(DEFAULT.n_mels, 40, 8, 16) if task(name).needs_model else None
    core = build_core(resolve(name, "restore", profile), model, IdentityModel(DEFAULT.n_bins, 40, 8, 16))
    _assert_tight(core)


def _assert_tight(core: Core) -> None:
    schedules = [schedule_of(s) for s in core.stages]
    frames = (sum(s.batch + s.wait for s in schedules) + math.lcm(*(s.batch for s in schedules))
              + core.latency_frames_bound + 3)
    rate = core.cfg.sample_rate  # the model rate, or the low-delay core's own
    n = core.latency_samples + frames * core.cfg.hop
    x = _signal(rate, n / rate + 0.01)[:n]
    e = Engine(core, rate)
    e.reset()
    for j in range(n):
        e.push(x[j:j + 1])
    core.latency_samples -= 1
    short = Engine(core, rate)
    short.reset()
    try:
        for j in range(n):
            short.push(x[j:j + 1])
    except RuntimeError as e:
        assert "underrun" in str(e)
        return
    pytest.fail(f"{core.latency_samples} samples (one less than declared) never ran short: over-declared")


def _readme_engine_latency() -> dict[tuple[str, str, str], tuple[int, ...]]:
    """(task, recon, profile) -> the engine's declared ms at 16 / 44.1 / 48 kHz, as the README's
    latency table states them (the figures in brackets)."""
    text = (REPO / "README.md").read_text()
    m = re.search(r"^\| pipeline \| quality \| default[^\n]*\n\|[-|]+\|\n((?:\|[^\n]*\n)+)", text, re.M)
    assert m, "README has no latency table"
    profiles = ("quality", "default", "low-latency")
    out = {}
    for row in m.group(1).splitlines():
        cells = [c.strip() for c in row.strip("|").split("|")]
        tasks, recons = (part.split(", ") for part in cells[0].split(" / "))
        for profile, cell in zip(profiles, cells[1:]):
            figures = re.search(r"\(([\d /]+)\)", cell) or re.fullmatch(r"([\d /]+)", cell)
            assert figures, cell
            ms = tuple(int(v) for v in figures.group(1).split(" / "))
            for t in tasks:
                for r in recons:
                    if r in task(t).recons:
                        out[(t, r, profile)] = ms
    return out


def test_readme_latency_table_matches_the_engine():
    """Every figure of the README's table is the declared latency of the pipeline with the
    shipped models' chunking (the stand-ins' is smaller), rounded to ms."""
    from streamproc.frame_model import IdentityModel
    from streamproc.spec import shipped_model, task_model

    table = _readme_engine_latency()
    assert {t for t, _, _ in table} == set(task_names())
    for (name, recon, profile), ms in table.items():
        entry = task(name)
        if entry.needs_model and shipped_model(name) is None:
            pytest.skip(f"no {name} model ships")
        model = task_model(name) if entry.needs_model else None
        restore = IdentityModel(DEFAULT.n_bins, 40, 8, 16)  # the shipped restoration net's chunking
        got = tuple(round(1e3 * build_engine(resolve(name, recon, profile), model, rate,
                                             restore_model=restore).latency_samples / rate)
                    for rate in RATES)
        assert got == ms, (name, recon, profile, got, ms)
