"""streamproc batch --ray on a real local Ray cluster: the same outputs as the local pool, the
same records, and an actor killed mid-batch costs nothing.

CI (.ci/run) starts the cluster (`ray start --head --num-cpus 2`); run alone, this module
starts one itself and stops it afterwards. It skips only where Ray is not installed."""
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="Ray is not installed (pip install 'streamproc[cluster]')")

from streamproc.cli import main  # noqa: E402

from test_batch import BAD, GOOD, last_records, leftovers, tree  # noqa: E402,F401  (tree: the fixture)
from test_batch_interrupt import N_FILES, ROOT, _check_outputs_whole, _done_records, collection  # noqa: E402,F401

RAY = str(Path(sys.executable).with_name("ray"))


@pytest.fixture(scope="module")
def cluster():
    """The running local cluster, or one started here for this module."""
    ray_bin = RAY if os.path.exists(RAY) else shutil.which("ray")
    assert ray_bin, "Ray is installed but its `ray` command is not on PATH"
    if subprocess.run([ray_bin, "status"], capture_output=True, timeout=60).returncode == 0:
        yield "auto"
        return
    subprocess.run([ray_bin, "start", "--head", "--num-cpus", "2", "--disable-usage-stats"], check=True,
                   capture_output=True, timeout=120)
    try:
        yield "auto"
    finally:
        subprocess.run([ray_bin, "stop"], capture_output=True, timeout=120)


def test_ray_batch_matches_the_local_pool(cluster, tree, tmp_path, capsys):
    local, remote = tmp_path / "local", tmp_path / "ray"
    assert main(["batch", str(tree), "--out", str(local), "--task", "resynth", "--jobs", "2", "--quiet"]) == 1
    capsys.readouterr()
    assert main(["batch", str(tree), "--out", str(remote), "--task", "resynth", "--ray", cluster, "--quiet"]) == 1
    captured = capsys.readouterr()
    assert "6 done, 0 skipped, 2 failed" in captured.out and "Ray cluster" in captured.out
    for rel in GOOD:
        assert (remote / rel).read_bytes() == (local / rel).read_bytes(), rel
    a, b = last_records(local), last_records(remote)
    assert sorted(a) == sorted(b)
    for rel in a:
        assert (a[rel]["status"], a[rel]["error"], a[rel]["sha256"], a[rel]["model"]) == \
               (b[rel]["status"], b[rel]["error"], b[rel]["sha256"], b[rel]["model"])
    assert len({r["worker"] for r in b.values()}) <= 2  # two actors, reused file after file
    assert not leftovers(remote)
    # resumable the same way: nothing left to do but the two broken files
    assert main(["batch", str(tree), "--out", str(remote), "--task", "resynth", "--ray", cluster, "--quiet"]) == 1
    assert "0 done, 6 skipped, 2 failed" in capsys.readouterr().out


def _actors() -> list[int]:
    pids = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if p.joinpath("cmdline").read_bytes().startswith(b"ray::_Worker"):
                    pids.append(int(p.name))
            except OSError:
                pass
    return pids


def test_ray_actor_killed_mid_batch(cluster, collection, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "streamproc", "batch", str(collection), "--out", str(out),
                             "--task", "resynth", "--recon", "wavenet", "--ray", cluster, "--quiet"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    t0 = time.monotonic()
    while len({r["worker"] for r in _done_records(out)}) < 2:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() - t0 < 180, "the batch made no progress"
        time.sleep(0.05)
    victims = _actors()
    assert victims
    os.kill(victims[0], signal.SIGKILL)
    stdout, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert f"{N_FILES} done, 0 skipped, 0 failed" in stdout
    done = _done_records(out)
    assert Counter(r["output"] for r in done) == {f"part{i % 3}/take{i:02d}.wav": 1 for i in range(N_FILES)}
    assert len({r["worker"] for r in done}) == 3  # a new actor took the killed one's place
    assert len(_check_outputs_whole(out)) == N_FILES
    assert not leftovers(out)


def test_ray_mistakes(tree, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["batch", str(tree), "--out", str(out), "--task", "resynth", "--ray", "ray://127.0.0.1:1",
                 "--gpus-per-worker", "-1", "--quiet"]) == 2
    assert "--gpus-per-worker must be 0 or more" in capsys.readouterr().err
