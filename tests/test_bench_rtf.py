"""The real-time benchmark's measuring helpers on a tiny grid (no timing thresholds)."""
import math
import time

import numpy as np

import streamproc
from streamproc import benchmark


def test_measure_reports_every_field_and_the_declared_latency(tone):
    x = tone(48000, 1.0)
    r = benchmark.measure("resynth", "gla", 48000, 256, x)
    assert (r["task"], r["recon"], r["profile"], r["rate"], r["block"]) == ("resynth", "gla", "default", 48000, 256)
    assert r["blocks"] == math.ceil(len(x) / 256) and r["seconds"] == 1.0
    assert r["rtf"] > 0 and r["cpu_rtf"] >= 0
    assert 0 <= r["block_ms_p50"] <= r["block_ms_p99"] <= r["block_ms_max"]
    assert abs(r["block_period_ms"] - 1e3 * 256 / 48000) < 1e-9
    declared = streamproc.Processor("resynth", "gla").latency_for(48000)
    assert r["latency_samples"] == declared and r["latency_ms"] == 1e3 * declared / 48000
    line = benchmark.row_line(r)
    assert line.split()[:5] == ["resynth", "gla", "default", "48000", "256"]
    assert len(line.split()) == 14 and len(line) == len(benchmark.HEADER)  # one value under each column
    # heard in live: engine + one block + the profile's margin + PortAudio's block
    margin = round(streamproc.Processor("resynth", "gla").spec.profile.live_margin_ms * 48000 / 1000)
    assert r["heard_ms"] == 1e3 * (declared + 256 + margin + 256) / 48000


def test_rtf_is_processing_time_over_audio_time(tone):
    """The real-time factor counts the time the pipeline spends: a stand-in model that sleeps
    a known time per run raises the measured RTF by at least that time over the audio's
    duration, and the per-block times see it too (no upper bound: a busy machine only adds)."""
    from streamproc.frame_model import IdentityModel

    pause = 0.004

    class Slow(IdentityModel):
        runs = 0

        def run(self, window):
            Slow.runs += 1
            time.sleep(pause)
            return super().run(window)

    x = tone(16000, 1.0)
    r = benchmark.measure("separate", "mask", 16000, 1024, x, model=Slow(128, 4, 2, 2))
    # the warm-up pass (half a second) ran the model too; the timed second ran it at least a
    # third of all runs
    slept = pause * (Slow.runs // 3)
    assert r["rtf"] >= slept / r["seconds"] > 0.05, (r["rtf"], slept)
    assert r["block_ms_max"] >= 1e3 * pause


def test_model_rtf_is_the_time_inside_the_model_runs(tone):
    """``model_rtf`` counts the task model's runs of the timed pass alone (not the warm-up), at
    least the time a stand-in model sleeps in them; the model's own ``run`` is put back after."""
    from streamproc.frame_model import IdentityModel

    pause = 0.003

    class Slow(IdentityModel):
        def run(self, window):
            time.sleep(pause)
            return super().run(window)

    model = Slow(128, 4, 2, 2)
    x = tone(16000, 1.0)
    r = benchmark.measure("separate", "mask", 16000, 1024, x, model=model)
    frames = len(x) // 256
    assert frames // 2 - 2 <= r["model_runs"] <= frames // 2 + 4          # one run every 2 new frames
    assert r["model_rtf"] >= pause * r["model_runs"] / r["seconds"] > 0
    assert r["model_rtf"] < r["rtf"]                                        # a share of the whole
    assert "run" not in vars(model)                                         # unwrapped again
    plain = benchmark.measure("resynth", "gla", 16000, 1024, x)
    assert plain["model_runs"] == 0 or plain["model_rtf"] < r["model_rtf"]


def test_task_clips_fall_back_to_the_violin_and_loop_to_length():
    assert benchmark.task_clip("resynth") == benchmark.EXAMPLE
    assert benchmark.task_clip("separate").name in ("duet.flac", "violin.flac")
    x = benchmark.load_clip(benchmark.EXAMPLE, 16000, 20.0)  # the clip is 8 s: looped
    assert x.shape == (320000,) and np.array_equal(x[:1000], x[128000:129000])


def test_cold_start_times_a_fresh_interpreter():
    c = benchmark.cold_start("resynth", repeats=1)
    assert len(c["runs"]) == 1 and 0 < c["first_block_s"] <= c["first_output_s"]


def test_targets_and_plot_on_a_made_up_grid(tmp_path, monkeypatch):
    from bench import rtf

    def row(recon, profile, block, rtf_, p99, latency):
        return {"task": "separate", "recon": recon, "profile": profile, "rate": 48000, "block": block,
                "rtf": rtf_, "block_ms_p99": p99, "block_period_ms": 1e3 * block / 48000, "latency_ms": latency}

    rows = [row("restore", "default", 256, 0.1, 6.0, 150.0), row("restore", "default", 64, 0.2, 1.0, 150.0),
            row("restore", "low-latency", 256, 0.1, 1.0, 90.0)]
    errors = [{"task": "pitch", "recon": "sine", "profile": "default", "skipped": "no model"}]
    cold = [{"task": "separate", "runs": [{}], "first_block_s": 1.0, "first_output_s": 2.5}]
    got = {(c["target"].split()[0], c["subject"]): c["pass"] for c in rtf.targets(rows, cold, errors)}
    assert got[("GAN-S", "separate/restore")] is False        # worst cell (block 64) counts
    assert got[("default", "separate/restore")] is True
    assert got[("low-latency", "separate/restore")] is False
    assert got[("p99", "separate/restore/default")] is False   # 6 ms > 5.33 ms period
    assert got[("p99", "separate/restore/low-latency")] is True
    assert got[("pitch", "pitch/sine")] is None                # could not run: n/a, not a pass
    assert [c["pass"] for c in rtf.targets(rows, cold) if c["subject"] == "separate" and "cold" in c["target"]] \
        == [True, False]
    pitch = [{**row("sine", "default", 64, 0.02, 1.0, 140.0), "task": "pitch", "model_rtf": m, "model_runs": 9}
             for m in (0.004, 0.012)]
    got = {c["target"]: c for c in rtf.targets(pitch, [])}
    assert got["pitch RTF <= 0.03"]["pass"] is True
    assert got["pitch model RTF <= 0.01 (default)"]["pass"] is False and got[
        "pitch model RTF <= 0.01 (default)"]["value"] == 0.012               # the worst cell's model share
    assert rtf.model_shares(pitch) == ["  pitch    default     0.0040-0.0120"]
    live = [{**row("sine", "live", 64, 0.2, 1.0, 14.6), "task": "pitch", "heard_ms": 14.6}]
    live_only = {c["target"] for c in rtf.targets(live, [])}
    assert "live RTF <= 0.3" in live_only and not any(t.startswith("pitch RTF") for t in live_only)  # default's target
    monkeypatch.setattr(rtf, "OUT", tmp_path)
    rtf.plot([{**r, "task": "separate"} for r in rows], [{"method": "m", "clip": "c", "rtf": 0.5}], "t")
    assert (tmp_path / "t.png").stat().st_size > 1000
