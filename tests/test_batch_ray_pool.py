"""RayPool's bookkeeping without a cluster: a stand-in for the few Ray calls it makes, so the
order of results, the second call queued on an actor, and what a dead actor hands back are
checked exactly (the real cluster runs in test_batch_ray.py). Also: the runner hands a job
that never started out again without counting it as an attempt."""
from __future__ import annotations

from collections import Counter

import pytest

from streamproc.batch import ray_pool, runner
from streamproc.batch.work import Job, Settings
from streamproc.cli import main

from test_batch import GOOD, last_records, leftovers, tree  # noqa: F401  (tree: the fixture)


class RayError(Exception):
    pass


class ActorDied(RayError):
    pass


class Ref:
    def __init__(self) -> None:
        self.value, self.error, self.finished = None, None, False

    def finish(self, value=None, error: Exception | None = None) -> None:
        self.value, self.error, self.finished = value, error, True


class Method:
    def __init__(self, actor: Actor, name: str) -> None:
        self.actor, self.name = actor, name

    def remote(self, *args) -> Ref:
        ref = Ref()
        self.actor.calls.append((self.name, args, ref))
        return ref


class Actor:
    def __init__(self, options: dict) -> None:
        self.options = options
        self.calls: list = []
        self.killed = False
        self.ready, self.process = Method(self, "ready"), Method(self, "process")

    def die(self) -> None:
        """Every unfinished call ends in an error, as when Ray loses the actor's process."""
        for _, _, ref in self.calls:
            if not ref.finished:
                ref.finish(error=ActorDied("the actor died"))

    def jobs(self) -> list:
        return [(args[0], ref) for name, args, ref in self.calls if name == "process"]


class FakeRay:
    """ray.init, cluster_resources, remote(...).options(...).remote, wait, get, kill."""

    class exceptions:
        RayError = RayError

    def __init__(self) -> None:
        self.actors: list[Actor] = []
        self.waits: list[int] = []
        self.initialized = False

    def init(self, **kw) -> None:
        assert "runtime_env" not in kw   # none for the job: Ray's prestarted workers can serve it
        self.initialized = True

    def is_initialized(self) -> bool:
        return self.initialized

    def shutdown(self) -> None:
        self.initialized = False

    def cluster_resources(self) -> dict:
        return {"CPU": 2}

    def remote(self, cls):
        fake = self

        class Handle:
            def __init__(self, options: dict) -> None:
                self.opts = options

            def options(self, **kw):
                return Handle(kw)

            def remote(self, settings):
                fake.actors.append(Actor(self.opts))
                return fake.actors[-1]
        return Handle({})

    def wait(self, refs, num_returns=1, timeout=None):
        self.waits.append(num_returns)
        ready = [r for r in refs if r.finished][:num_returns]
        return ready, [r for r in refs if r not in ready]

    def get(self, ref):
        assert ref.finished, "ray.get on a call that has not finished would block"
        if ref.error is not None:
            raise ref.error
        return ref.value

    def kill(self, actor: Actor) -> None:
        actor.killed = True


def ready(actor: Actor, root: str = ray_pool._PACKAGE_ROOT) -> None:
    actor.calls[0][2].finish({"identity": "none", "providers": ["none"], "name": "x", "root": root})


@pytest.fixture
def fake(monkeypatch):
    fake = FakeRay()
    monkeypatch.setattr(ray_pool, "_ray", lambda: fake)
    return fake


@pytest.fixture
def pool(fake):
    p = ray_pool.RayPool(Settings(task="resynth"), "auto", 2, 0.0, 100)
    p.start()
    for actor in fake.actors:
        ready(actor)
    assert p.poll(0.1) == [] and p.idle() == 2   # ready, one call each until a file's time is known
    assert all("runtime_env" not in a.options for a in fake.actors)
    return p, fake


def test_an_actor_that_imports_another_copy_is_restarted_with_this_one_on_its_path(fake):
    p = ray_pool.RayPool(Settings(task="resynth"), "auto", 2, 0.0, 100)
    p.start()
    a, b = fake.actors
    ready(a, "/elsewhere/site-packages")
    assert p.poll(0.1) == [] and p.idle() == 0 and a.killed
    c = fake.actors[2]
    assert c.options["runtime_env"]["env_vars"]["PYTHONPATH"].split(":")[0] == ray_pool._PACKAGE_ROOT
    ready(b)                     # b imported this copy: it stays
    ready(c, "/still/elsewhere")  # with PYTHONPATH set it is the best there is: accepted, as before
    assert p.poll(0.1) == [] and p.idle() == 2 and not b.killed and not c.killed
    assert p._restarts == 0      # not counted as workers dying


def rec(seconds: float) -> dict:
    return {"status": "done", "seconds": seconds}


def test_short_files_queue_a_second_call_and_results_come_as_they_finish(pool):
    p, fake = pool
    jobs = [Job(i, f"in{i}", f"out{i}", f"part{i}") for i in range(8)]
    p.submit(jobs[0])
    p.submit(jobs[1])
    a, b = fake.actors
    assert [j for j, _ in a.jobs()] == [jobs[0]] and [j for j, _ in b.jobs()] == [jobs[1]]
    a.jobs()[0][1].finish(rec(0.05))
    assert p.poll(0.1) == [(jobs[0], rec(0.05), None)]   # b still busy: no waiting for it
    assert fake.waits[-1] == 1
    assert p.idle() == 2        # a's file was short: a may hold two calls (both free); b none free
    p.submit(jobs[2])
    p.submit(jobs[3])
    assert [j for j, _ in a.jobs()] == jobs[0:1] + jobs[2:4]   # a runs 2 and has 3 queued
    b.jobs()[0][1].finish(rec(3.0))
    a.jobs()[1][1].finish(rec(0.05))
    a.jobs()[2][1].finish(rec(0.05))
    out = p.poll(0.1)
    assert [j for j, _, _ in out] == [jobs[1], jobs[2], jobs[3]]
    assert p.idle() == 3        # b's file was long: one call for b; two for a


def test_a_dead_actor_hands_back_the_queued_call_uncounted(pool):
    p, fake = pool
    a, b = fake.actors
    for s in p._slots:
        s.last_s = 0.05
    jobs = [Job(i, f"in{i}", f"out{i}", f"part{i}") for i in range(4)]
    for j in jobs:
        p.submit(j)
    assert [j for j, _ in a.jobs()] == [jobs[0], jobs[2]]
    a.die()
    out = p.poll(0.1)
    assert out == [(jobs[0], None, "Ray worker lost (ActorDied)"), (jobs[2], None, None)]
    assert a.killed and len(fake.actors) == 3 and p.idle() == 0   # b full; the new actor starting
    # b dies holding jobs[1]: its queued call's error comes first, jobs[1]'s not yet
    b.jobs()[1][1].finish(error=ActorDied("the actor died"))
    out = p.poll(0.1)
    assert out == [(jobs[1], None, "Ray worker lost (ActorDied)"), (jobs[3], None, None)]
    # a call that finished before its actor died still counts as done
    ready(fake.actors[3])
    p.poll(0.1)
    p._slots[1].last_s = 0.05
    p.submit(jobs[1])
    p.submit(jobs[3])
    c = fake.actors[3]
    c.jobs()[0][1].finish(rec(0.05))
    c.die()
    out = p.poll(0.1)
    assert out == [(jobs[1], rec(0.05), None), (jobs[3], None, "Ray worker lost (ActorDied)")]
    p.close()
    assert not fake.initialized


class _HandsBack:
    """A local pool that gives every job back as 'never started' (as from a dead Ray actor's
    queue) ``times`` times before running it: each must end done, not failed after MAX_ATTEMPTS."""

    def __init__(self, inner, times: int) -> None:
        self.inner, self.times, self.slots, self.description = inner, times, inner.slots, inner.description
        self.back: list = []
        self.seen: Counter = Counter()

    def start(self):
        self.inner.start()

    def idle(self):
        return self.inner.idle()

    def submit(self, job):
        self.seen[job.index] += 1
        if self.seen[job.index] <= self.times:
            self.back.append(job)
        else:
            self.inner.submit(job)

    def poll(self, timeout):
        out = [(j, None, None) for j in self.back] + self.inner.poll(timeout)
        self.back = []
        return out

    def close(self, abort=False):
        self.inner.close(abort)


def test_the_runner_redoes_a_job_that_never_started_without_counting_it(tree, tmp_path, monkeypatch, capsys):
    make = runner._make_pool
    monkeypatch.setattr(runner, "_make_pool", lambda *a: _HandsBack(make(*a), runner.MAX_ATTEMPTS))
    out = tmp_path / "out"
    assert main(["batch", str(tree), "--out", str(out), "--task", "resynth", "--jobs", "1", "--quiet"]) == 1
    assert "6 done, 0 skipped, 2 failed" in capsys.readouterr().out   # the two corrupt files only
    recs = last_records(out)
    assert all(recs[rel]["status"] == "done" for rel in GOOD)
    assert not leftovers(out)
    assert (out / "batch-manifest.jsonl").read_text().count("\n") == 8   # one record a file
