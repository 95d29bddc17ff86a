"""The model scheduler with stub steps, a clock of our own and no server: first steps before any
class, classes round-robin across visitors, jobs after first steps yet within their bound, and a
visitor who leaves has nothing run after it and keeps no pass."""

from __future__ import annotations

from concurrent.futures import CancelledError

import pytest

from explorer.graphs import KeptGraphs, estimate, tokens_of
from explorer.scheduler import FIRST, LATER, RENDER, Scheduler
from tests.helpers import BUNDLED


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Kept:
    """A stand-in for a kept pass: knows whether it was closed."""

    def __init__(self) -> None:
        self.closed = False

    def close(self) -> None:
        self.closed = True


def crowd(scheduler: Scheduler, clock: Clock, log: list[str], visitors: int = 3, classes: int = 2) -> None:
    """`visitors` arriving 50 ms apart, each with a first step and `classes` class steps (a stream
    submits its classes as it goes; here they are all queued at once, which orders the same)."""
    for v in range(1, visitors + 1):
        clock.now = 0.05 * (v - 1)
        scheduler.submit(f"v{v}", FIRST, lambda v=v: log.append(f"v{v} first"))
        for c in range(1, classes + 1):
            scheduler.submit(f"v{v}", LATER, lambda v=v, c=c: log.append(f"v{v} class{c}"))


def drain(scheduler: Scheduler, clock: Clock, step_s: float = 1.0) -> None:
    """Runs every waiting step, each taking `step_s` on the clock."""
    while scheduler.run_next():
        clock.now += step_s


def test_first_steps_then_round_robin_and_the_job_within_its_bound():
    """Three visitors 50 ms apart, then an API job whose steps each submit the next when they run
    (as `explorer.analysis.analyse` does); every step takes 1 s; the bound is 4 s."""
    clock, log, started = Clock(), [], {}
    scheduler = Scheduler(clock=clock, job_wait_s=4.0, start=False)
    crowd(scheduler, clock, log)
    clock.now = 0.2
    submitted = {}

    def job_step(n: int) -> None:
        name = ["job forward", "job class1", "job class2"][n]
        log.append(name)
        started[name] = clock.now
        if n < 2:
            submitted[n + 1] = clock.now
            scheduler.submit("job", LATER, lambda: job_step(n + 1), job=True)

    submitted[0] = clock.now
    scheduler.submit("job", LATER, lambda: job_step(0), job=True)
    drain(scheduler, clock)
    assert log == ["v1 first", "v2 first", "v3 first",  # every first step before any class
                   "v1 class1", "v2 class1", "job forward", "v3 class1",  # the job, 5 s waited, goes next
                   "v1 class2", "v2 class2", "v3 class2",  # every visitor's top class before anyone's second
                   "job class1", "job class2"]
    waits = [started[name] - submitted[n] for n, name in enumerate(["job forward", "job class1", "job class2"])]
    assert max(waits) <= 4.0 + 1.0  # the bound, plus the one step that was running when it passed


def test_a_job_that_waited_past_its_bound_goes_next():
    clock, log = Clock(), []
    scheduler = Scheduler(clock=clock, job_wait_s=2.5, start=False)
    scheduler.submit("job", LATER, lambda: log.append("job"), job=True)
    for v in range(1, 6):  # five visitors' first steps, which would otherwise all go before it
        scheduler.submit(f"v{v}", FIRST, lambda v=v: log.append(f"v{v} first"))
    drain(scheduler, clock)
    assert log == ["v1 first", "v2 first", "v3 first", "job", "v4 first", "v5 first"]  # waited 3 s > 2.5 s


def test_drawing_runs_between_steps_before_anything_else():
    clock, log = Clock(), []
    scheduler = Scheduler(clock=clock, start=False)
    crowd(scheduler, clock, log, visitors=2, classes=1)
    scheduler.submit("v2", RENDER, lambda: log.append("v2 draws"))
    scheduler.run_next()
    assert log == ["v2 draws"]


def test_a_visitor_who_leaves_has_no_step_run_after_and_keeps_no_pass():
    clock, log = Clock(), []
    scheduler, graphs = Scheduler(clock=clock, start=False), KeptGraphs(bound=100)
    crowd(scheduler, clock, log, classes=3)
    kept = {f"v{v}": Kept() for v in (1, 2, 3)}
    for owner, graph in kept.items():
        assert graphs.keep(owner, graph, 10)
    waiting = scheduler.submit("v2", LATER, lambda: log.append("v2 late"))
    scheduler.run_next()  # v1's first step
    assert scheduler.cancel("v2") == 5
    graphs.drop("v2")
    left_at = len(log)
    drain(scheduler, clock)
    assert not any(entry.startswith("v2") for entry in log[left_at:])
    assert "v2" not in graphs.owners() and kept["v2"].closed and not kept["v1"].closed
    with pytest.raises(CancelledError):
        waiting.result(timeout=0)


def test_the_place_of_a_waiting_first_step_counts_what_runs_before_it():
    clock = Clock()
    scheduler = Scheduler(clock=clock, start=False)
    futures = [scheduler.submit(f"v{v}", FIRST, lambda: None) for v in range(3)]
    scheduler.submit("v0", LATER, lambda: None)
    assert [scheduler.ahead(f) for f in futures] == [0, 1, 2]
    scheduler.run_next()
    assert scheduler.ahead(futures[0]) is None and scheduler.ahead(futures[2]) == 1


def test_a_failing_step_reaches_its_submitter_and_the_worker_goes_on():
    scheduler = Scheduler()  # with its worker thread
    failing = scheduler.submit("v1", FIRST, lambda: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        failing.result(timeout=10)
    assert scheduler.call("v2", LATER, lambda: 42) == 42


def test_kept_passes_stay_within_their_bound_in_bytes():
    graphs = KeptGraphs(bound=25)
    first, second, third = Kept(), Kept(), Kept()
    assert graphs.keep("a", first, 10) and graphs.keep("b", second, 10)
    assert not graphs.fits(10) and not graphs.keep("c", third, 10) and third.closed
    graphs.drop("a")
    assert first.closed and graphs.fits(10) and graphs.used == 10
    assert KeptGraphs(bound=5).keep("big", Kept(), 50)  # one pass is kept whatever its size when it is alone


def test_the_estimate_matches_the_measured_graph():
    """The kept pass's bytes: attention probabilities (layers x heads x tokens², 4 bytes) plus a part
    per token measured at half the model's size; at its size and above, the estimate is within 5%
    of the measure (1% on the Hub architecture, docs/app.md)."""
    import torch

    from explain.passes import graph_bytes
    from explorer.graphs import per_token_bytes
    from vit_hybrid import ViTHybridForImageClassification

    model = ViTHybridForImageClassification.from_pretrained(BUNDLED).requires_grad_(False)
    per_token = per_token_bytes(model)
    for height, width in ((128, 128), (128, 320), (256, 256)):
        measured = graph_bytes(model, torch.rand(1, 3, height, width))
        predicted = estimate(model.config, per_token, tokens_of(model.config, height, width))
        assert predicted == pytest.approx(measured, rel=0.05)

