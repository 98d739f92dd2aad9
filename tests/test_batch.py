"""streamproc batch on this machine: a generated tree with corrupt files, resuming, the lock,
outputs identical to streamproc render, and every mistake caught before any work."""
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from streamproc.batch.manifest import LOCK_NAME, MANIFEST_NAME, PARTIAL_DIR, BatchLock
from streamproc.cli import main

from conftest import harmonic_tone


def write(path: Path, x, sr: int, subtype: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), np.asarray(x).T if np.ndim(x) == 2 else x, sr, subtype=subtype)
    return path


def records(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / MANIFEST_NAME).read_text().splitlines() if line.strip()]


def last_records(out: Path) -> dict[str, dict]:
    return {r["output"]: r for r in records(out)}


def leftovers(out: Path) -> list[Path]:
    """Anything in the output folder that is neither a finished output nor the batch's own files."""
    return [p for p in out.rglob("*") if p.is_file() and (p.name.startswith(".") and p.name != LOCK_NAME
                                                            or PARTIAL_DIR in p.parts)]


@pytest.fixture
def tree(tmp_path):
    """Six short recordings in three folders (several rates, one stereo) and two corrupt files."""
    root = tmp_path / "collection"
    write(root / "a.wav", harmonic_tone(16000, 0.6), 16000)
    write(root / "solo" / "b.flac", harmonic_tone(22050, 0.5, 1), 22050)
    write(root / "solo" / "c.wav", harmonic_tone(8000, 0.7, 2), 8000)
    write(root / "duo" / "d.flac", np.stack([harmonic_tone(44100, 0.4, 3), harmonic_tone(44100, 0.4, 4)]), 44100)
    write(root / "duo" / "deep" / "e.wav", harmonic_tone(16000, 0.5, 5), 16000)
    write(root / "f.ogg", harmonic_tone(16000, 0.5, 6), 16000)
    (root / "duo" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunkjunkjunk")
    (root / "solo" / "notes.mp3").write_text("this is not audio\n" * 50)
    (root / "solo" / "readme.txt").write_text("not an input: only INPUT arguments are lists\n")
    return root


GOOD = ["a.wav", "solo/b.wav", "solo/c.wav", "duo/d.wav", "duo/deep/e.wav", "f.wav"]
BAD = {"duo/broken.wav": "duo/broken.wav", "solo/notes.wav": "solo/notes.mp3"}


def test_local_pool_on_a_tree_with_corrupt_files(tree, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["batch", str(tree), "--out", str(out), "--task", "resynth", "--jobs", "2", "--quiet"])
    assert rc == 1  # something failed: the exit status says so
    captured = capsys.readouterr()
    assert "6 done, 0 skipped, 2 failed" in captured.out
    for rel in GOOD:  # the input tree, mirrored, every output at its input's rate and channels
        y, sr = sf.read(out / rel, always_2d=True)
        src = next(tree.glob(str(Path(rel).with_suffix(".*"))))
        info = sf.info(str(src))
        assert sr == max(info.samplerate, 16000) and y.shape[1] == info.channels
        assert abs(len(y) / sr - info.duration) < 0.01
    recs = last_records(out)
    assert sorted(recs) == sorted(GOOD + list(BAD))
    assert {r["worker"] for r in recs.values()} and len({r["worker"] for r in recs.values()}) <= 2  # reused
    for rel, src_rel in BAD.items():  # the same one line the CLI gives for that file, and listed
        r = recs[rel]
        assert r["status"] == "failed" and not (out / rel).exists()
        assert main(["render", str(tree / src_rel), str(tmp_path / "x.wav"), "--task", "resynth"]) == 2
        assert capsys.readouterr().err.strip() == f"streamproc: error: {r['error']}"
        assert f"failed: {tree / src_rel}: {r['error']}" in captured.err
    for rel in GOOD:
        r = recs[rel]
        assert r["status"] == "done" and r["task"] == "resynth" and r["recon"] == "gla"
        assert r["profile"] == "quality" and r["model"] == "none" and r["duration_s"] > 0.3
        assert r["level"] == "auto" and isinstance(r["level_gain_db"], float) and len(r["dc_offset"]) >= 1
        assert len(r["sha256"]) == 64 and r["seconds"] > 0 and r["peak_rss_mb"] > 10
    assert not leftovers(out)
    assert not (out / "solo" / "readme.txt").exists()

    # a re-run skips what is done and retries what failed
    before = {rel: (out / rel).stat().st_mtime_ns for rel in GOOD}
    assert main(["batch", str(tree), "--out", str(out), "--task", "resynth", "--jobs", "2", "--quiet"]) == 1
    assert "0 done, 6 skipped, 2 failed" in capsys.readouterr().out
    assert before == {rel: (out / rel).stat().st_mtime_ns for rel in GOOD}

    # a changed input, a fixed file and a removed output are redone; the rest is skipped
    write(tree / "a.wav", harmonic_tone(16000, 0.6, 9), 16000)
    write(tree / "duo" / "broken.wav", harmonic_tone(16000, 0.3), 16000)
    (tree / "solo" / "notes.mp3").unlink()
    (out / "duo" / "d.wav").unlink()
    assert main(["batch", str(tree), "--out", str(out), "--task", "resynth", "--quiet"]) == 0
    assert "3 done, 4 skipped, 0 failed" in capsys.readouterr().out
    # another profile is other work: everything is redone
    assert main(["batch", str(tree), "--out", str(out), "--task", "resynth", "--profile", "default",
                 "--quiet"]) == 0
    assert "7 done, 0 skipped" in capsys.readouterr().out
    assert not leftovers(out)


@pytest.mark.parametrize("task, fmt", [("separate", "wav"), ("pitch", "csv"), ("pitch", "mid")])
def test_outputs_identical_to_render(tmp_path, task, fmt):
    src = tmp_path / "in"
    write(src / "mono.wav", harmonic_tone(16000, 1.0), 16000, "FLOAT")
    write(src / "x" / "stereo.flac", np.stack([harmonic_tone(22050, 0.8, 1), harmonic_tone(22050, 0.8, 2)]), 22050)
    out = tmp_path / "out"
    assert main(["batch", str(src), "--out", str(out), "--task", task, "--format", fmt, "--jobs", "2",
                 "--quiet"]) == 0
    for rel in ("mono", "x/stereo"):
        alone = tmp_path / f"alone.{fmt}"
        inp = next(src.glob(rel + ".*"))
        assert main(["render", str(inp), str(alone), "--task", task, "--quiet"]) == 0
        assert (out / f"{rel}.{fmt}").read_bytes() == alone.read_bytes()


def test_lists_globs_and_mixed_inputs(tree, tmp_path, capsys):
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "some.txt").write_text(f"# two files\n{tree / 'a.wav'}\n\n../collection/solo/b.flac\n")
    (lists / "more.csv").write_text(f"id,path\n1,{tree / 'duo' / 'd.flac'}\n2,../collection/f.ogg\n")
    out = tmp_path / "out"
    rc = main(["batch", str(lists / "some.txt"), str(lists / "more.csv"), str(tree / "**" / "e.wav"),
               str(tree / "a.wav"), "--out", str(out), "--task", "pitch", "--format", "json", "--quiet"])
    assert rc == 0
    assert "5 done" in capsys.readouterr().out  # a.wav named twice runs once
    got = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.json"))
    assert got == ["a.json", "duo/d.json", "duo/deep/e.json", "f.json", "solo/b.json"]
    doc = json.loads((out / "a.json").read_text())
    assert "notes" in doc


def test_a_second_batch_on_the_same_folder_is_refused(tree, tmp_path, capsys):
    out = tmp_path / "out"
    out.mkdir()
    with BatchLock(out):
        assert main(["batch", str(tree), "--out", str(out), "--task", "resynth", "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "another batch" in err and f"pid {os.getpid()}" in err
    assert not (out / MANIFEST_NAME).exists() and not list(out.rglob("*.wav"))


def _refused(capsys, argv, needle, out):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("streamproc: error:") and needle in err, err
    assert not out.exists() or not [p for p in out.rglob("*") if p.is_file() and p.name != LOCK_NAME]


def test_mistakes_are_caught_before_any_work(tree, tmp_path, capsys):
    out = tmp_path / "out"
    base = ["--out", str(out), "--quiet"]
    _refused(capsys, ["batch", str(tmp_path / "nope"), "--task", "resynth", *base], "input not found", out)
    _refused(capsys, ["batch", str(tree / "*.aiff"), "--task", "resynth", *base], "matches no audio", out)
    empty = tmp_path / "empty"
    empty.mkdir()
    _refused(capsys, ["batch", str(empty), "--task", "resynth", *base], "holds no audio files", out)
    bad_list = tmp_path / "l.txt"
    bad_list.write_text(f"{tree / 'a.wav'}\n{tree / 'gone.wav'}\n")
    _refused(capsys, ["batch", str(bad_list), "--task", "resynth", *base], "line 2: file not found", out)
    _refused(capsys, ["batch", str(tree), "--task", "resynth", "--format", "csv", *base], "--task pitch", out)
    _refused(capsys, ["batch", str(tree), "--task", "nosuch", *base], "unknown task", out)
    _refused(capsys, ["batch", str(tree), "--task", "pitch", "--recon", "gla", *base], "not available", out)
    _refused(capsys, ["batch", str(tree), "--task", "resynth", "--jobs", "0", *base], "--jobs", out)
    _refused(capsys, ["batch", str(tree), "--task", "resynth", "--gpus-per-worker", "1", *base], "--ray", out)
    _refused(capsys, ["batch", str(tree), "--task", "resynth", "--out", str(tree / "a.wav"), "--quiet"],
             "is a file", out)
    _refused(capsys, ["batch", str(tree), "--task", "resynth", "--out", str(tree), "--quiet"],
             "inside the output folder", out)
    write(tree / "solo" / "b.wav", harmonic_tone(16000, 0.2), 16000)  # b.flac and b.wav -> one output
    _refused(capsys, ["batch", str(tree), "--task", "resynth", *base], "would both write", out)


def test_output_folder_inside_the_input_tree_is_not_read_back(tree, capsys):
    (tree / "duo" / "broken.wav").unlink()
    (tree / "solo" / "notes.mp3").unlink()
    out = tree / "processed"
    assert main(["batch", str(tree), "--out", str(out), "--task", "pitch", "--format", "wav", "--quiet"]) == 0
    assert "6 done" in capsys.readouterr().out
    assert main(["batch", str(tree), "--out", str(out), "--task", "pitch", "--format", "wav", "--quiet"]) == 0
    assert "0 done, 6 skipped" in capsys.readouterr().out


def test_worker_renders_through_file_renderer_and_keeps_its_engines(tmp_path, capsys):
    """A worker is `streamproc render` kept warm: one restoration session for every engine, the
    engines of a rate pair reused by the next file, and outputs byte-identical to render's."""
    from streamproc.batch.work import FileWorker, Job, Settings

    src = tmp_path / "in"
    a = write(src / "a.wav", np.stack([harmonic_tone(22050, 0.7, 1), harmonic_tone(22050, 0.7, 2)]), 22050)
    b = write(src / "b.flac", harmonic_tone(22050, 0.5, 3), 22050)
    worker = FileWorker(Settings("separate", "restore", fmt="flac", device="cpu"))
    restore = worker.renderer.restore_model
    assert restore is not None and worker.providers == ["CPUExecutionProvider"]
    (tmp_path / "p").mkdir()
    recs, engines = [], []
    for i, inp in enumerate((a, b)):
        job = Job(i, str(inp), str(tmp_path / "out" / f"{inp.stem}.flac"), str(tmp_path / "p" / f"{i}.flac"))
        recs.append(worker.process(job))
        engines.append(worker.renderer.engines(22050, 22050, 1)[0])
        assert recs[-1]["status"] == "done", recs[-1]
        alone = tmp_path / f"alone{i}.flac"
        assert main(["render", str(inp), str(alone), "--task", "separate", "--recon", "restore", "--quiet"]) == 0
        assert Path(job.dst).read_bytes() == alone.read_bytes()
    assert engines[0] is engines[1]
    from streamproc.stages import Restore

    restorers = [s for e in worker.renderer.engines(22050, 22050, 2) for s in e.core.stages if isinstance(s, Restore)]
    assert len(restorers) == 2 and all(s.model is restore for s in restorers)
    assert recs[0]["duration_s"] == pytest.approx(0.7, abs=1e-3) and not list((tmp_path / "p").iterdir())


def test_worker_peak_memory_is_its_own():
    """Not the parent's: ru_maxrss of a process started from a large one starts at that size."""
    import subprocess
    import sys

    from streamproc.batch.work import peak_rss_kb

    ballast = bytearray(300 << 20)  # this process: 300 MB more than a fresh interpreter needs
    ballast[::4096] = b"x" * len(ballast[::4096])
    code = "from streamproc.batch.work import peak_rss_kb; print(peak_rss_kb())"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    child_kb = int(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                  check=True).stdout)
    assert peak_rss_kb() > 300 << 10 and child_kb < 200 << 10, child_kb
    del ballast
