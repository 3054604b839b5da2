"""Sweeps: many independent runs, on local processes or as Ray tasks.

Grid. strategies x (each K of ``buffer_sizes`` for a strategy that takes a ``buffer_size``,
once for one that does not) x persons x seeds, in that order, as :class:`RunSpec`. A run whose
result file exists is skipped; every other run is started with ``resume=True``, so one that was
interrupted continues from its checkpoint. Every run gets the sweep's ``device`` (default: the
run's own, $FACEBENCH_DEVICE where it runs, else cpu); several runs on one cuda device share it.

Local executor: ``jobs`` worker processes (spawned) with ``threads`` torch threads each, and
jobs x threads <= ``os.cpu_count()``, whatever the device. By default jobs = the cores and
threads = cores // jobs: the thread count does not depend on how many runs are left, so a
run's numbers do not either.

Ray executor (``facebench.run.ray_executor``): every run is a Ray task that asks for
``threads`` CPUs (default 1) on the cluster at ``address`` (a local Ray instance when none is
given), after checking that its node runs the driver's code; ``working_dir``: a folder Ray ships
to every node.

Progress. Each run reports its finished sessions to the driver (through a queue of a manager
process locally, a Ray queue actor on Ray), which passes them on while it waits for the runs,
every :data:`POLL_S` seconds and before a run's end, and shows them with the finished runs: a
line per event when the console is not a terminal, else one bar of the sweep's sessions with
an ETA that weighs each session by its cost (``facebench.progress``).

An executor is a callable ``(pending, out, run, device=, on_session=)`` that starts the pending
specs' runs and yields each one's :class:`Outcome` as it ends (``on_session``: None, or what
takes each session event); :func:`_local`, with its processes and threads bound, and
``facebench.run.ray_executor.RayExecutor``.

A run that fails is reported at the end with its error; the others go on.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import queue
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING

from facebench.board import schema as results
from facebench.errors import FacebenchError
from facebench.progress import Lines, SessionClock, SessionCount, SweepBar, duration

if TYPE_CHECKING:
    from facebench.run.runner import RunSpec

class SweepError(FacebenchError):
    """A sweep that cannot start or go on: a bad grid, too many threads, no Ray, a node whose code
    differs from the driver's."""


def grid(scenario: str, strategies: list[str], buffer_sizes: list[int], persons: list[str] | str = "all",
         seeds: list[int] = (0,)) -> list[RunSpec]:
    """Every run of the grid (see the module's docstring), each spec as the runner resolves it:
    parameters completed with the strategy's defaults, and those defaults (so that its result
    path is the runner's); ``persons="all"``: the scenario's."""
    from facebench.registry import get_strategy
    from facebench.run.runner import RunSpec

    if persons == "all":
        from facebench.data import load_scenario

        persons = load_scenario(scenario).persons
    specs = []
    for name in strategies:
        entry = get_strategy(name)
        for params in [{"buffer_size": k} for k in buffer_sizes] if entry.takes_buffer_size else [{}]:
            resolved = entry.resolve_params(params)
            specs += [RunSpec(name, resolved, scenario, str(person), int(seed), entry.defaults)
                      for person in persons for seed in seeds]
    return specs


def result_path(spec: RunSpec, out: str | Path) -> Path:
    """Where the runner writes ``spec``'s result file under ``out``."""
    return spec.result_path(Path(out), _scenario_name(spec.scenario))


@lru_cache(maxsize=None)
def _scenario_name(scenario: str) -> str:
    from facebench.data.cards import load_card

    return load_card(scenario).name


@lru_cache(maxsize=None)
def _sessions(scenario: str) -> dict[str, int]:
    """The number of sessions of each person of ``scenario`` (counted without reading an image)."""
    from facebench.data import load_scenario

    return {person: len(counts) for person, counts in load_scenario(scenario).counts().items()}


def expected_sessions(spec: RunSpec) -> int:
    """The experiences ``spec``'s run is expected to train, which it reports as its sessions: its
    strategy kind's rows over its person's sessions (``facebench.run.kinds``: a joint run trains
    one, every other kind one per session); 0 for a person the scenario lacks (the run fails).
    A strategy this process does not know (one that only a Ray node's shipped checkout has, or a
    run that will fail) counts its person's sessions until the run reports its own count."""
    from facebench.registry import StrategyError, get_strategy

    sessions = _sessions(spec.scenario).get(spec.person, 0)
    try:
        return get_strategy(spec.strategy).strategy_kind.rows(sessions)
    except StrategyError:
        return sessions


@dataclass(frozen=True)
class Outcome:
    """One run's end: its result file and the seconds it ran, or the error that stopped it."""

    spec: RunSpec
    path: Path | None
    error: str | None
    seconds: float | None


@dataclass
class SweepReport:
    skipped: list[RunSpec] = field(default_factory=list)
    resumed: list[RunSpec] = field(default_factory=list)
    finished: list[Outcome] = field(default_factory=list)
    failed: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0


def execute(run: Callable, spec: RunSpec, out: str, threads: int, device: str | None = None, events=None,
            index: int = 0) -> tuple[str, str, float]:
    """One run in a worker, with ``threads`` torch threads, on ``device`` (None: the run's
    default): its result path, the file's content and the seconds it took. ``events``: a queue
    (anything with ``put``) that gets a session event (:func:`_session_events`) for each
    finished session of the run, the ``index``-th of the sweep's runs to do."""
    import torch

    began = time.perf_counter()
    torch.set_num_threads(threads)
    options = {} if device is None else {"device": device}
    if events is not None:
        options["progress"] = _session_events(events, index, spec)
    path = Path(run(spec, out, resume=True, **options))
    return str(path), path.read_text(encoding="utf-8"), time.perf_counter() - began


def sweep(specs: list[RunSpec], out: str | Path, executor: str = "local", jobs: int | None = None,
          threads: int | None = None, address: str | None = None, run: Callable | None = None,
          console=None, device: str | None = None, working_dir: str | Path | None = None) -> SweepReport:
    """Run every spec whose result is missing under ``out`` with ``run`` (default
    :func:`facebench.run.runner.run`) on ``device``; progress on ``console`` (none without one).
    ``working_dir``: Ray only (see the module's docstring)."""
    if run is None:
        from facebench.run.runner import run
    out = Path(out).resolve()
    report = SweepReport()
    pending = []
    for spec in specs:
        path = result_path(spec, out)
        if path.exists():
            report.skipped.append(spec)
            continue
        pending.append(spec)
        if path.with_suffix(".ckpt").exists():
            report.resumed.append(spec)
    if any(n is not None and n < 1 for n in (jobs, threads)):
        raise SweepError(f"jobs and threads must be at least 1, got {jobs} and {threads}")
    if executor == "local":
        if working_dir is not None:
            raise SweepError("a working directory is for Ray's nodes; the local executor runs in this one")
        if device is not None:
            from facebench.run.runner import check_device

            check_device(device)
        jobs, threads = local_slots(jobs, threads)
        start = partial(_local, jobs=jobs, threads=threads)
        where = f"{jobs} process{'es' * (jobs != 1)} x {threads} thread{'s' * (threads != 1)}"
    elif executor == "ray":
        from facebench.run.ray_executor import RayExecutor  # it imports this module's pieces

        start = RayExecutor(address, threads or 1, working_dir)
        where = start.where
    else:
        raise SweepError(f"unknown executor '{executor}' (local or ray)")
    monitor = _Monitor(console, report, pending)
    monitor.say(f"sweep: {len(pending)} run{'s' * (len(pending) != 1)} to do ({len(report.resumed)} to resume), "
                f"{len(report.skipped)} already done; {where}" + (f"; device {device}" if device else ""))
    with monitor.bar:
        for outcome in start(pending, str(out), run, device=device,
                             on_session=monitor.session if console is not None else None):
            monitor.ended(outcome)
    report.seconds = monitor.count.elapsed()
    monitor.say(f"sweep done: {len(report.finished)} finished, {len(report.failed)} failed, {len(report.skipped)} "
                f"already done, in {duration(report.seconds)}")
    return report


def label(spec: RunSpec) -> str:
    """A run in one line: ``ewc ewc_lambda=10000.0, person 0, seed 0`` (``RunSpec.label``)."""
    return f"{spec.label}, person {spec.person}, seed {spec.seed}"


def _session_events(events, index: int, spec: RunSpec) -> Callable:
    """A run's ``progress`` callback that puts a session event on ``events`` for each finished
    session: the tuple (index, sessions done, total, (training, evaluation) seconds of the
    session if this process trained it, else None (restored from a checkpoint), the line that
    says so: ``SessionClock``). A tuple: the queue's own process reads it without importing
    facebench."""
    clock, sessions, line = SessionClock(), {"done": 0}, label(spec)

    def progress(stage, done, total):
        if stage == "train":
            clock.training(sessions["done"])
        elif stage == "session":
            sessions["done"] = done
            said = clock.session(done, total)
            events.put((index, done, total, clock.timing, f"  {line}: {said}"))

    return progress


class _Monitor:
    """What a sweep shows while it runs, from its runs' session events (:meth:`session`) and their
    outcomes (:meth:`ended`, which also fills the report): a line per event when the console is
    not a terminal (``say``), else one bar of sessions."""

    def __init__(self, console, report: SweepReport, pending: list[RunSpec]):
        self.say = Lines(console)
        self.report, self.pending = report, pending
        self.count = SessionCount([expected_sessions(spec) for spec in pending])
        self.bar = SweepBar(console, self.count, f"runs ({self._tally()})", disable=self.say.enabled)

    def _tally(self) -> str:
        report = self.report
        return f"{len(report.skipped)} already done, {len(report.finished)} finished, {len(report.failed)} failed"

    def session(self, event: tuple) -> None:
        index, done, total, timing, line = event
        self.count.session(index, done, total, timing)
        self.bar.update()
        self.say(line)

    def ended(self, outcome: Outcome) -> None:
        report = self.report
        (report.failed if outcome.error else report.finished).append(outcome)
        self.count.ended(self.pending.index(outcome.spec), finished=outcome.error is None)
        self.bar.update(f"runs ({self._tally()})")
        what = f"failed ({outcome.error})" if outcome.error else f"finished in {duration(outcome.seconds or 0)}"
        self.say(f"run {len(report.finished) + len(report.failed)}/{len(self.pending)}, {label(outcome.spec)}: "
                 f"{what}; ({self._tally()}), {self.count}, {duration(self.count.elapsed())} elapsed, "
                 f"{self.count.eta()}")


def local_slots(jobs: int | None, threads: int | None) -> tuple[int, int]:
    """(processes, torch threads each) with processes x threads <= the cores."""
    cores = os.cpu_count() or 1
    jobs = jobs or max(1, cores // (threads or 1))
    threads = threads or max(1, cores // jobs)
    if jobs * threads > cores:
        raise SweepError(f"{jobs} processes x {threads} threads do not fit {cores} cores")
    return jobs, threads


def _local(pending: list[RunSpec], out: str, run: Callable, device: str | None, on_session: Callable | None,
           jobs: int, threads: int) -> Iterator[Outcome]:
    """The local executor: the runs in ``jobs`` spawned processes of ``threads`` torch threads."""
    if not pending:
        return
    context = multiprocessing.get_context("spawn")
    with contextlib.ExitStack() as stack:
        # the workers' session events, through a queue of a manager process
        events = stack.enter_context(context.Manager()).Queue() if on_session is not None else None
        pool = stack.enter_context(ProcessPoolExecutor(max_workers=min(jobs, len(pending)), mp_context=context))
        futures = {pool.submit(execute, run, spec, out, threads, device, events, index): spec
                   for index, spec in enumerate(pending)}
        waiting = set(futures)
        try:
            while waiting:
                done, waiting = wait(waiting, timeout=POLL_S, return_when=FIRST_COMPLETED)
                drain(events, on_session)
                for future in done:
                    try:
                        yield collected(futures[future], out, *future.result())
                    except Exception as error:  # noqa: BLE001 - any failure of one run is reported, the others go on
                        yield Outcome(futures[future], None, describe(error), None)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


POLL_S = 0.5
"""How often (seconds) an executor passes its runs' session events on while it waits for them."""


def drain(events, on_session: Callable | None) -> None:
    """Pass every event waiting on ``events`` to ``on_session`` (nothing without a queue).
    Called before a finished run is reported: its events, put before it returned, come first."""
    if events is None:
        return
    while True:
        try:
            event = events.get_nowait()
        except queue.Empty:
            return
        on_session(event)


def collected(spec: RunSpec, out: str, path: str, content: str, seconds: float) -> Outcome:
    """The outcome of a finished run, its result file written under ``out`` if it is not there."""
    local = Path(path) if Path(path).exists() else result_path(spec, out)
    if not local.exists():
        local.parent.mkdir(parents=True, exist_ok=True)
        results.write_result(local, json.loads(content))
    return Outcome(spec, local, None, seconds)


def describe(error: BaseException) -> str:
    """An error in one line: its type and the last line of its message."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}".rstrip(": ")
