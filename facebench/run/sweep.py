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

Ray executor: every run is a Ray task that asks for ``threads`` CPUs (default 1) on the cluster
at ``address`` (a local Ray instance when none is given), and no GPU: Ray places tasks by CPUs,
and every task on a node sees that node's GPUs. Each task first compares the code it runs with
the driver's (:func:`code_version`); a node whose code differs stops the sweep with an error
naming the node and the difference (:func:`code_difference`), before it runs anything. A task
returns its result file's content and the driver writes it under ``out`` if the task's node
wrote it elsewhere, so nodes need no shared filesystem (checkpoints of interrupted runs stay on
the node that made them). ``working_dir``: a folder Ray ships to every node as the tasks'
working directory, first on their Python path (``runtime_env``).

Progress. Each run reports its finished sessions to the driver (through a queue of a manager
process locally, a Ray queue actor on Ray), which passes them on while it waits for the runs,
every :data:`POLL_S` seconds and before a run's end, and shows them with the finished runs: a
line per event when the console is not a terminal, else one bar of the sweep's sessions with
an ETA (``facebench.progress``).

A run that fails is reported at the end with its error; the others go on.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import multiprocessing
import os
import queue
import socket
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from facebench.board import schema as results
from facebench.errors import FacebenchError
from facebench.progress import Lines, SessionClock, SessionCount, SweepBar, duration

if TYPE_CHECKING:
    from facebench.run.runner import RunSpec

RAY_MISSING = "--executor ray needs Ray, an optional extra: pip install 'facebench[ray]'"


class SweepError(FacebenchError):
    """A sweep that cannot start or go on: a bad grid, too many threads, no Ray, a node whose code
    differs from the driver's."""


class CodeMismatch(SweepError):
    """A Ray task's node runs other code than the driver (:func:`code_difference`)."""


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
    """The sessions ``spec``'s run is expected to train: its person's (0 for a person the scenario
    lacks: the run fails). A joint run trains one; it says so when it reports its first."""
    return _sessions(spec.scenario).get(spec.person, 0)


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
        start, where = _local, f"{jobs} process{'es' * (jobs != 1)} x {threads} thread{'s' * (threads != 1)}"
    elif executor == "ray":
        threads = threads or 1
        if working_dir is not None and not Path(working_dir).is_dir():
            raise SweepError(f"--ray-working-dir {working_dir}: no such folder")
        start = _ray
        where = (f"Ray at {address or 'a local instance'}, {threads} CPU{'s' * (threads != 1)} per run"
                 + (f", shipping {working_dir}" if working_dir else ""))
    else:
        raise SweepError(f"unknown executor '{executor}' (local or ray)")
    monitor = _Monitor(console, report, pending)
    monitor.say(f"sweep: {len(pending)} run{'s' * (len(pending) != 1)} to do ({len(report.resumed)} to resume), "
                f"{len(report.skipped)} already done; {where}" + (f"; device {device}" if device else ""))
    with monitor.bar:
        for outcome in start(pending, str(out), run, jobs=jobs, threads=threads, device=device, address=address,
                             working_dir=working_dir, on_session=monitor.session if console is not None else None):
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
    session: the tuple (index, sessions done, total, whether this process trained them (else
    restored from a checkpoint), the line that says so). A tuple: the queue's own process
    reads it without importing facebench."""
    clock, sessions, line = SessionClock(), {"done": 0}, label(spec)

    def progress(stage, done, total):
        if stage == "train":
            clock.training(sessions["done"])
        elif stage == "session":
            sessions["done"] = done
            events.put((index, done, total, clock.trained, f"  {line}: {clock.session(done, total)}"))

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
        index, done, total, trained, line = event
        self.count.session(index, done, total, trained)
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


def _local(pending, out, run, jobs, threads, device, address, working_dir, on_session):
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
                _drain(events, on_session)
                for future in done:
                    try:
                        yield _collected(futures[future], out, *future.result())
                    except Exception as error:  # noqa: BLE001 - any failure of one run is reported, the others go on
                        yield Outcome(futures[future], None, _describe(error), None)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


POLL_S = 0.5
"""How often (seconds) an executor passes its runs' session events on while it waits for them."""


def _drain(events, on_session: Callable | None) -> None:
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


def _ray(pending, out, run, jobs, threads, device, address, working_dir, on_session):
    try:
        import ray
    except ImportError:
        raise SweepError(RAY_MISSING) from None
    if not pending:
        return
    with contextlib.ExitStack() as stack:
        _start_ray(ray, address, working_dir)
        stack.callback(ray.shutdown)
        events = None
        if on_session is not None:  # the tasks' session events, through a queue actor (it takes no CPU)
            from ray.util.queue import Queue

            events = Queue(actor_options={"num_cpus": 0})
        driver = code_version()
        task = ray.remote(num_cpus=threads, max_retries=0)(_ray_task)
        refs = {task.remote(driver, run, spec, out, threads, device, events, index): spec
                for index, spec in enumerate(pending)}
        while refs:
            ready, _ = ray.wait(list(refs), num_returns=1, timeout=POLL_S)
            _drain(events, on_session)
            for ref in ready:
                spec = refs.pop(ref)
                try:
                    yield _collected(spec, out, *ray.get(ref))
                except ray.exceptions.RayTaskError as error:
                    if isinstance(error.cause, CodeMismatch):
                        raise SweepError(f"{error.cause}; the sweep stopped (the runs finished so far are kept: "
                                         "the same command resumes it)") from None
                    yield Outcome(spec, None, _describe(error.cause), None)
                except Exception as error:  # noqa: BLE001 - a lost task or a bad result is reported, the others go on
                    yield Outcome(spec, None, _describe(error), None)


def _start_ray(ray, address: str | None, working_dir: str | Path | None) -> None:
    """``ray.init`` at ``address``, quietly, shipping ``working_dir`` if given."""
    import logging

    runtime_env = {"working_dir": str(Path(working_dir).resolve())} if working_dir is not None else None
    ray.init(address=address, runtime_env=runtime_env, include_dashboard=False, log_to_driver=False,
             logging_level=logging.WARNING)


def _ray_task(driver: dict, run: Callable, spec: RunSpec, out: str, threads: int, device: str | None, events,
              index: int) -> tuple[str, str, float]:
    """A run as a Ray task (:func:`execute`), once its node is seen to run the driver's code
    (``driver``: the driver's :func:`code_version`); :class:`CodeMismatch` naming the node and
    the difference otherwise."""
    import ray

    difference = code_difference(driver, code_version())
    if difference:
        node_id = ray.get_runtime_context().get_node_id()
        node = f"{ray.util.get_node_ip_address()} ({socket.gethostname()}, Ray node {node_id[:12]})"
        raise CodeMismatch(f"node {node} runs other code than the driver: {difference}. Install the driver's "
                           "facebench, strategies and plugins on every node (or ship a plugin with --ray-working-dir)")
    return execute(run, spec, out, threads, device, events, index)


def code_version() -> dict:
    """What code this process runs, as a sweep's driver and its Ray tasks compare it:
    ``facebench`` (the installed version), ``git_commit`` (of the checkout it runs from, "-dirty"
    with changes: ``facebench.board.schema.git_commit``, as a result file records it),
    ``sources`` (sha256 of facebench's own Python files, the built-in strategies aside: two
    dirty checkouts may differ) and ``strategies`` (the sha256 of each registered strategy's
    source, by name: ``StrategyEntry.source``, as a result file records it)."""
    import facebench
    from facebench.registry import list_strategies

    return {"facebench": facebench.__version__, "git_commit": results.git_commit(), "sources": _sources_sha256(),
            "strategies": {entry.name: entry.source()["sha256"] for entry in list_strategies()}}


def _sources_sha256() -> str:
    """sha256 of facebench's Python files (relative path and content, in path order), those of its
    built-in strategies aside (``code_version`` hashes each strategy; an installed wheel holds
    them inside the package, a checkout beside it)."""
    import facebench

    root = Path(facebench.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if relative.parts[0] != "strategies":
            digest.update(relative.as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def code_difference(driver: dict, node: dict) -> str | None:
    """How the code of a node (:func:`code_version`) differs from the driver's, in words; None
    when it does not."""
    found = [f"{key} {node[key]} on the node, {driver[key]} on the driver"
             for key in ("facebench", "git_commit") if node[key] != driver[key]]
    if node["sources"] != driver["sources"]:
        found.append("facebench's source files differ")
    theirs, ours = node["strategies"], driver["strategies"]
    for name in sorted(set(theirs) | set(ours)):
        if name not in ours:
            found.append(f"strategy {name} only on the node")
        elif name not in theirs:
            found.append(f"strategy {name} missing on the node")
        elif theirs[name] != ours[name]:
            found.append(f"strategy {name}: source {str(theirs[name])[:12]} on the node, {str(ours[name])[:12]} "
                         "on the driver")
    return "; ".join(found) or None


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
