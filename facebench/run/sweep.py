"""Sweeps: many independent runs, on local processes or as Ray tasks.

Grid. strategies x (each K of ``buffer_sizes`` for a strategy that takes a ``buffer_size``,
once for one that does not) x persons x seeds, in that order, as :class:`RunSpec`. A run whose
result file exists is skipped; every other run is started with ``resume=True``, so one that was
interrupted continues from its checkpoint.

Local executor: ``jobs`` worker processes (spawned) with ``threads`` torch threads each, and
jobs x threads <= ``os.cpu_count()``. By default jobs = the cores and threads = cores // jobs:
the thread count does not depend on how many runs are left, so a run's numbers do not either.

Ray executor: every run is a Ray task that asks for ``threads`` CPUs (default 1) on the cluster
at ``address`` (a local Ray instance when none is given). Each task returns its result file's
content and the driver writes it under ``out`` if the task's node wrote it elsewhere, so nodes
need no shared filesystem (checkpoints of interrupted runs stay on the node that made them).

A run that fails is reported at the end with its error; the others go on.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from facebench.board import schema as results
from facebench.errors import FacebenchError
from facebench.progress import Lines, SessionClock, duration, eta

if TYPE_CHECKING:
    from facebench.run.runner import RunSpec

RAY_MISSING = "--executor ray needs Ray, an optional extra: pip install 'facebench[ray]'"


class SweepError(FacebenchError):
    """A sweep that cannot start: a bad grid, too many threads, no Ray."""


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


def execute(run: Callable, spec: RunSpec, out: str, threads: int, events=None) -> tuple[str, str, float]:
    """One run in a worker, with ``threads`` torch threads: its result path, the file's content
    and the seconds it took. ``events``: a queue that gets a line for each finished session."""
    import torch

    began = time.perf_counter()
    torch.set_num_threads(threads)
    options = {} if events is None else {"progress": _session_lines(events, spec)}
    path = Path(run(spec, out, resume=True, **options))
    return str(path), path.read_text(encoding="utf-8"), time.perf_counter() - began


def sweep(specs: list[RunSpec], out: str | Path, executor: str = "local", jobs: int | None = None,
          threads: int | None = None, address: str | None = None, run: Callable | None = None,
          console=None) -> SweepReport:
    """Run every spec whose result is missing under ``out`` with ``run`` (default
    :func:`facebench.run.runner.run`); one progress bar on ``console`` (none without one)."""
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
        jobs, threads = local_slots(jobs, threads)
        start = _local
    elif executor == "ray":
        threads = threads or 1
        start = _ray
    else:
        raise SweepError(f"unknown executor '{executor}' (local or ray)")
    began = time.perf_counter()
    say = Lines(console)  # output that is not a terminal (a log): a plain line per event instead of the bar
    where = (f"{jobs} process{'es' * (jobs != 1)} x {threads} thread{'s' * (threads != 1)}" if executor == "local"
             else f"Ray at {address or 'a local instance'}, {threads} CPU{'s' * (threads != 1)} per run")
    say(f"sweep: {len(pending)} run{'s' * (len(pending) != 1)} to do ({len(report.resumed)} to resume), "
        f"{len(report.skipped)} already done; {where}")
    with _Bar(console, len(pending), len(report.skipped), disable=say.enabled) as advance:
        for outcome in start(pending, str(out), run, jobs=jobs, threads=threads, address=address,
                             say=say if say.enabled else None):
            (report.failed if outcome.error else report.finished).append(outcome)
            advance(len(report.finished), len(report.failed))
            done = len(report.finished) + len(report.failed)
            elapsed = time.perf_counter() - began
            what = (f"failed ({outcome.error})" if outcome.error else f"finished in {duration(outcome.seconds or 0)}")
            say(f"run {done}/{len(pending)}, {label(outcome.spec)}: {what}; ({len(report.skipped)} already done, "
                f"{len(report.finished)} finished, {len(report.failed)} failed), {duration(elapsed)} elapsed, "
                f"{eta(elapsed, done, len(pending))}")
    report.seconds = time.perf_counter() - began
    say(f"sweep done: {len(report.finished)} finished, {len(report.failed)} failed, {len(report.skipped)} already "
        f"done, in {duration(report.seconds)}")
    return report


def label(spec: RunSpec) -> str:
    """A run in one line: ``ewc ewc_lambda=10000.0, person 0, seed 0`` (``RunSpec.label``)."""
    return f"{spec.label}, person {spec.person}, seed {spec.seed}"


def _session_lines(events, spec: RunSpec) -> Callable:
    """A run's ``progress`` callback that puts a line on ``events`` for each finished session."""
    clock, sessions, line = SessionClock(), {"done": 0}, label(spec)

    def progress(stage, done, total):
        if stage == "train":
            clock.training(sessions["done"])
        elif stage == "session":
            sessions["done"] = done
            events.put(f"  {line}: {clock.session(done, total)}")

    return progress


def local_slots(jobs: int | None, threads: int | None) -> tuple[int, int]:
    """(processes, torch threads each) with processes x threads <= the cores."""
    cores = os.cpu_count() or 1
    jobs = jobs or max(1, cores // (threads or 1))
    threads = threads or max(1, cores // jobs)
    if jobs * threads > cores:
        raise SweepError(f"{jobs} processes x {threads} threads do not fit {cores} cores")
    return jobs, threads


def _local(pending, out, run, jobs, threads, address, say=None):
    if not pending:
        return
    context = multiprocessing.get_context("spawn")
    with contextlib.ExitStack() as stack:
        events = None
        if say is not None:  # the workers' finished sessions, as lines, through a queue of a manager process
            manager = stack.enter_context(context.Manager())
            events = manager.Queue()
            relay = threading.Thread(target=_relay, args=(events, say), daemon=True)
            relay.start()
            stack.callback(relay.join, 5)
            stack.callback(_stop, events)
        pool = stack.enter_context(ProcessPoolExecutor(max_workers=min(jobs, len(pending)), mp_context=context))
        futures = {pool.submit(execute, run, spec, out, threads, events): spec for spec in pending}
        try:
            for future in as_completed(futures):
                try:
                    yield _collected(futures[future], out, *future.result())
                except Exception as error:  # noqa: BLE001 - any failure of one run is reported, the others go on
                    yield Outcome(futures[future], None, _describe(error), None)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


def _stop(events) -> None:
    try:
        events.put(None)
    except Exception:  # noqa: BLE001 - the manager is gone (interrupted): the relay ends with it
        pass


def _relay(events, say) -> None:
    """Say each line put on ``events`` until None."""
    while True:
        try:
            line = events.get()
        except (EOFError, OSError):  # the manager is gone
            return
        if line is None:
            return
        say(line)


def _ray(pending, out, run, jobs, threads, address, say=None):  # no per-session lines from Ray tasks (yet)
    try:
        import ray
    except ImportError:
        raise SweepError(RAY_MISSING) from None
    if not pending:
        return
    import logging

    ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    try:
        task = ray.remote(num_cpus=threads, max_retries=0)(execute)
        refs = {task.remote(run, spec, out, threads): spec for spec in pending}
        while refs:
            [ref], _ = ray.wait(list(refs), num_returns=1)
            spec = refs.pop(ref)
            try:
                yield _collected(spec, out, *ray.get(ref))
            except Exception as error:  # noqa: BLE001 - a failed task is reported, the others go on
                yield Outcome(spec, None, _describe(getattr(error, "cause", None) or error), None)
    finally:
        ray.shutdown()


def _collected(spec: RunSpec, out: str, path: str, content: str, seconds: float) -> Outcome:
    """The outcome of a finished run, its result file written under ``out`` if it is not there."""
    local = Path(path) if Path(path).exists() else result_path(spec, out)
    if not local.exists():
        local.parent.mkdir(parents=True, exist_ok=True)
        results.write_result(local, json.loads(content))
    return Outcome(spec, local, None, seconds)


def _describe(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}".rstrip(": ")


class _Bar:
    """One overall progress bar with ETA over the runs to do; silent without a console."""

    def __init__(self, console, total: int, skipped: int, disable: bool = False):
        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                 console=console, disable=disable or console is None)
        self.skipped = skipped
        self.task = self.progress.add_task(self._text(0, 0), total=total)

    def _text(self, finished: int, failed: int) -> str:
        return f"runs ({self.skipped} already done, {finished} finished, {failed} failed)"

    def __enter__(self):
        self.progress.start()
        return self.advance

    def advance(self, finished: int, failed: int) -> None:
        self.progress.update(self.task, completed=finished + failed, description=self._text(finished, failed))

    def __exit__(self, *exc):
        self.progress.stop()
