"""What the input's level does to each task, with ``--level auto`` and ``--level off``.

The models trained on renderings peaking at -24..-1 dBFS. Real recordings may peak far lower
(a quiet transfer, a 24-bit take with headroom) or at full scale (a mastered release). Each test clip is scaled so that it peaks at
each of ``--peaks`` dBFS, written as a float WAV and rendered through
:class:`streamproc.render.FileRenderer`, exactly as ``streamproc render`` runs it, once per
level mode. Scores: separate SI-SDR (``mask``, against the violin stem), superres LSD80 (against
the full-band original at the input's level), pitch RPA / OA (audio-aligned labels). One more
inputs: the clip at -40 dBFS with two near-full-scale clicks a second (a worn disc's transfer),
and the clip at -20 dBFS with a DC offset of 0.05 (a cheap converter's).

``--host stream`` runs what a streaming host runs instead: :class:`streamproc.Processor` over
the clip (pitch: the engine's own stages, ``streamproc.pitch.track_pitch``), where ``auto``
follows the level causally (``streamproc.level.LevelFollower``) rather than measuring the file.

    python -m bench.level                      # 12 clips per task, quality profile (render's)
    python -m bench.level --profile default --clips 6 --tasks pitch
    python -m bench.level --host stream --profile default --out level-stream
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from streamproc.config import SAMPLE_RATE
from streamproc.level import LEVELS
from streamproc.tasks import OFFLINE_PROFILE, PROFILES, resolve

from . import testsets
from .common import write_json

TASKS = ("separate", "superres", "pitch")
PEAKS_DBFS = (0.0, -6.0, -20.0, -30.0, -40.0, -50.0, -60.0)
PITCH_SOUNDFONT = "FluidR3_GM"
PITCH_SEED = 1   # the pitch clips bench.quality's default-profile rows use
CLICKS = ("-40+clicks", -40.0)   # a quiet transfer with clicks: the clip at -40 dBFS, 2 clicks a second
DC = ("-20+dc", -20.0, 0.05)     # a converter's offset: the clip at -20 dBFS, 0.05 added
CLICKS_PER_SECOND, CLICK_SAMPLES, CLICK_PEAK = 2, 16, 0.9   # 1 ms at 16 kHz, near full scale


def with_clicks(x: np.ndarray, seed: int) -> np.ndarray:
    """``x`` with short full-scale clicks at random times, as on a worn disc."""
    rng = np.random.default_rng(seed)
    y = x.copy()
    n = int(len(x) / SAMPLE_RATE * CLICKS_PER_SECOND)
    for start in rng.integers(0, len(x) - CLICK_SAMPLES, n):
        y[start:start + CLICK_SAMPLES] += CLICK_PEAK * rng.choice([-1.0, 1.0]) * np.hanning(CLICK_SAMPLES)
    return y


def _clips(task: str, count: int) -> list:
    if task == "pitch":
        return testsets.pitch_clips(PITCH_SOUNDFONT, count, seed=PITCH_SEED, progress=False)
    return testsets.clips(task, count, progress=False)


def _score(task: str, clip, out_path: Path, gain: float) -> dict[str, float]:
    from streamproc.metrics import lsd, si_sdr

    if task == "pitch":
        from .quality import pitch_scores

        track = np.loadtxt(out_path, delimiter=",", skiprows=1, ndmin=2)
        ref_times = np.arange(len(clip.f0)) * testsets.F0_HOP
        s = pitch_scores(ref_times, clip.f0, track[:, 0], track[:, 1])
        return {"rpa": s["rpa"], "oa": s["oa"]}
    y = sf.read(out_path, dtype="float64")[0]
    ref = clip.reference * gain
    n = min(len(y), len(ref))
    if task == "separate":
        return {"si_sdr": si_sdr(ref[:n], y[:n])}
    return {"lsd80": lsd(ref[:n], y[:n], range_db=80.0)}


class _FileHost:
    """``streamproc render`` / ``streamproc pitch``: the file, measured, then rendered."""

    def __init__(self, task: str, profile: str, mode: str) -> None:
        from streamproc.render import FileRenderer

        self.renderer = FileRenderer(resolve(task, None, profile), level=mode)

    def __call__(self, src: Path, dst: Path) -> None:
        self.renderer.render(src, dst)


class _StreamHost:
    """``Processor`` (pitch: the engine's stages behind it): the clip as one stream."""

    def __init__(self, task: str, profile: str, mode: str) -> None:
        from streamproc import Processor

        self.task, self.profile, self.follow = task, profile, mode == "auto"
        self.fx = None if task == "pitch" else Processor(task=task, profile=profile, level=mode)

    def __call__(self, src: Path, dst: Path) -> None:
        from streamproc.pitch import track_pitch, write_csv

        x, rate = sf.read(src, dtype="float64")
        if self.fx is None:
            write_csv(track_pitch(x, rate, profile=self.profile, follow_level=self.follow), dst)
        else:
            sf.write(dst, self.fx(x, rate), rate, subtype="FLOAT")


HOSTS = {"render": _FileHost, "stream": _StreamHost}


def run(tasks: tuple[str, ...], clips: int, profile: str, peaks: tuple[float, ...], host: str = "render") -> dict:
    from tqdm import tqdm

    results: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for task in tasks:
            renderers = {mode: HOSTS[host](task, profile, mode) for mode in LEVELS}
            cl = _clips(task, clips)
            ext = ".csv" if task == "pitch" else ".wav"
            rows: dict[str, dict[str, list[dict]]] = {}
            scenarios = ([(f"{p:g}", p, "") for p in peaks] + [(CLICKS[0], CLICKS[1], "clicks"),
                         (DC[0], DC[1], "dc")])
            bar = tqdm(total=len(cl) * len(scenarios), desc=f"level {task}", unit="clip", leave=False)
            for c in cl:
                for label, peak, extra in scenarios:
                    gain = 10.0 ** (peak / 20.0) / float(np.abs(c.input).max())
                    x = c.input * gain
                    x = with_clicks(x, c.index) if extra == "clicks" else x + DC[2] if extra == "dc" else x
                    src = folder / "in.wav"
                    sf.write(src, x.astype(np.float32), SAMPLE_RATE, subtype="FLOAT")
                    for mode in LEVELS:
                        dst = folder / f"out-{mode}{ext}"
                        renderers[mode](src, dst)
                        rows.setdefault(label, {}).setdefault(mode, []).append(_score(task, c, dst, gain))
                    bar.update()
            bar.close()
            results[task] = {peak: {mode: {k: float(np.mean([r[k] for r in rs])) for k in rs[0]}
                                    for mode, rs in by_mode.items()} for peak, by_mode in rows.items()}
    return results


def print_table(results: dict) -> None:
    labels = list(next(iter(results.values())))
    print(f"{'task':9s} {'figure':7s} {'level':5s} " + " ".join(f"{p:>10s}" for p in labels) + "   (input peak, dBFS)")
    for task, by_peak in results.items():
        metrics = next(iter(next(iter(by_peak.values())).values()))
        for metric in metrics:
            for mode in ("off", "auto"):
                cells = " ".join(f"{by_peak[p][mode][metric]:10.3f}" for p in labels)
                print(f"{task:9s} {metric:7s} {mode:5s} {cells}")


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m bench.level", description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, of {', '.join(TASKS)}")
    ap.add_argument("--clips", type=int, default=12, help="test-split clips of 10 s per task (default 12)")
    ap.add_argument("--profile", default=OFFLINE_PROFILE, help=f"{' | '.join(PROFILES)} (default {OFFLINE_PROFILE})")
    ap.add_argument("--peaks", default=",".join(f"{p:g}" for p in PEAKS_DBFS),
                    help="input peaks in dBFS, comma-separated")
    ap.add_argument("--host", choices=tuple(HOSTS), default="render",
                    help="render: the file renderer (measures the file first); stream: Processor, "
                         "which follows the level causally (default render)")
    ap.add_argument("--out", default="level", help="JSON name under bench/out (default level)")
    argv = list(sys.argv[1:] if argv is None else argv)
    a = ap.parse_args(argv)
    tasks = tuple(t for t in a.tasks.split(",") if t)
    if set(tasks) - set(TASKS) or a.profile not in PROFILES or a.clips < 1:
        ap.error(f"--tasks of {', '.join(TASKS)}, --profile of {', '.join(PROFILES)}, --clips >= 1")
    try:
        peaks = tuple(float(p) for p in a.peaks.split(","))
    except ValueError:
        ap.error(f"--peaks takes numbers in dBFS, got {a.peaks!r}")
    if any(not p <= 0 for p in peaks):
        ap.error("--peaks must lie at or below 0 dBFS")
    results = run(tasks, a.clips, a.profile, peaks, a.host)
    print(f"{a.host} host, {a.profile} profile, {a.clips} test-split clips per task; separate: SI-SDR dB (higher is better), "
          f"superres: LSD80 (lower), pitch: RPA / OA on {PITCH_SOUNDFONT} (higher)")
    print_table(results)
    write_json(a.out, {"host": a.host, "profile": a.profile, "clips": a.clips, "peaks_dbfs": list(peaks), "results": results,
                       "command": " ".join(["python -m bench.level", *argv])})
    return results


if __name__ == "__main__":
    main()
