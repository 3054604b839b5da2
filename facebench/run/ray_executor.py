"""A sweep's runs as Ray tasks (``facebench sweep --executor ray``): the executor
:class:`RayExecutor`, the code check between the driver and its nodes, and the shipped working
directory.

Tasks. Every run is a Ray task that asks for ``threads`` CPUs on the cluster at ``address`` (a
local Ray instance when none is given), and no GPU: Ray places tasks by CPUs, and every task on
a node sees that node's GPUs. A task returns its result file's content and the driver writes it
under ``out`` if the task's node wrote it elsewhere, so nodes need no shared filesystem
(checkpoints of interrupted runs stay on the node that made them). Each task reports its
finished sessions to the driver through a Ray queue actor (which takes no CPU).

Code check. Each task first describes the code its node runs for the sweep
(:func:`code_version`: facebench, the swept strategies, torch and Avalanche) and compares it with
the driver's (:func:`code_difference`); a node whose code differs stops the sweep with an error
naming the node and each difference (:class:`CodeMismatch`), before it runs anything. What the
sweep does not run (a plugin installed on the driver only, a strategy not swept) is not compared.

Working directory. ``working_dir``: a folder Ray ships to every node (``runtime_env``) as the
tasks' working directory, first on their Python path, so that its packages shadow the node's
(a plugin's project folder: its latest code). When it holds the folder the driver imports the
built-in strategies from (the checkout's ``strategies/``, with a strategy only the driver's
checkout has), each task imports ``facebench.strategies`` from its shipped copy
(:func:`use_strategies_from`), and the tasks record the driver's git commit
(``FACEBENCH_GIT_COMMIT``): they run the driver's checkout, as the code check confirms.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import importlib.util
import socket
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from facebench.board import schema as results
from facebench.run.sweep import POLL_S, Outcome, SweepError, collected, describe, drain, execute

if TYPE_CHECKING:
    from facebench.run.runner import RunSpec

RAY_MISSING = "--executor ray needs Ray, an optional extra: pip install 'facebench[ray]'"

STRATEGIES = "facebench.strategies"
"""The package of the built-in strategies (a checkout's ``strategies/`` folder)."""

PACKAGES = ("torch", "avalanche-lib")
"""The distributions besides facebench whose versions a node must share with the driver."""

SHOWN = 5
"""The most differing files of facebench a code difference names."""

COMPARED = ("module", "sha256", "distribution", "version")
"""The fields of a strategy's source (``StrategyEntry.source``) a node must share with the
driver; not an editable plugin's ``commit``, which is the node's own checkout's (and the
plugin's code may be shipped: its sha256 is compared)."""


class CodeMismatch(SweepError):
    """A Ray task's node runs other code than the driver (:func:`code_difference`)."""


class RayExecutor:
    """The sweep executor on Ray (see the module's docstring): ``threads`` CPUs per task, the
    cluster at ``address`` (None: a local instance), ``working_dir`` shipped to every node
    (None: nothing). :class:`SweepError` at once when Ray is not installed or ``working_dir``
    is no folder."""

    def __init__(self, address: str | None, threads: int, working_dir: str | Path | None):
        if working_dir is not None and not Path(working_dir).is_dir():
            raise SweepError(f"--ray-working-dir {working_dir}: no such folder")
        try:
            import ray  # noqa: F401 - imported here only to say at once that it is missing
        except ImportError:
            raise SweepError(RAY_MISSING) from None
        self.address, self.threads = address, threads
        self.working_dir = None if working_dir is None else Path(working_dir).resolve()

    @property
    def where(self) -> str:
        """'Ray at ADDRESS, 1 CPU per run, shipping DIR', for the sweep's first line."""
        return (f"Ray at {self.address or 'a local instance'}, {self.threads} CPU{'s' * (self.threads != 1)} per run"
                + (f", shipping {self.working_dir}" if self.working_dir else ""))

    def __call__(self, pending: list[RunSpec], out: str, run: Callable, device: str | None,
                 on_session: Callable | None) -> Iterator[Outcome]:
        """Run ``pending`` as Ray tasks; each outcome as its task ends. A node whose code differs
        stops the sweep (:class:`SweepError`); any other failure is its run's outcome."""
        import ray

        if not pending:
            return
        strategies = shipped_strategies(self.working_dir)
        _start(ray, self.address, self.working_dir, strategies is not None)
        try:
            events = None
            if on_session is not None:  # the tasks' session events, through a queue actor (it takes no CPU)
                from ray.util.queue import Queue

                events = Queue(actor_options={"num_cpus": 0})
            driver = code_version(sorted({spec.strategy for spec in pending}))
            task = ray.remote(num_cpus=self.threads, max_retries=0)(_task)
            refs = {task.remote(driver, strategies, run, spec, out, self.threads, device, events, index): spec
                    for index, spec in enumerate(pending)}
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1, timeout=POLL_S)
                drain(events, on_session)
                for ref in ready:
                    spec = refs.pop(ref)
                    try:
                        yield collected(spec, out, *ray.get(ref))
                    except ray.exceptions.RayTaskError as error:
                        if isinstance(error.cause, CodeMismatch):
                            raise SweepError(f"{error.cause}; the sweep stopped (the runs finished so far are kept: "
                                             "the same command resumes it)") from None
                        yield Outcome(spec, None, describe(error.cause), None)
                    except Exception as error:  # noqa: BLE001 - a lost task or a bad result is reported, the others go on
                        yield Outcome(spec, None, describe(error), None)
        finally:
            ray.shutdown()


def shipped_strategies(working_dir: Path | None) -> str | None:
    """Where in ``working_dir`` the folder lies that this process imports the built-in
    strategies from (POSIX path relative to ``working_dir``, "." for ``working_dir`` itself);
    None when it lies outside (or nothing is shipped): the nodes use their own."""
    if working_dir is None:
        return None
    folder = Path(importlib.import_module(STRATEGIES).__path__[0]).resolve()
    return folder.relative_to(working_dir).as_posix() if folder.is_relative_to(working_dir) else None


def _start(ray, address: str | None, working_dir: Path | None, with_strategies: bool) -> None:
    """``ray.init`` at ``address``, quietly, shipping ``working_dir`` if given; when it holds
    the strategies, with the driver's git commit for the tasks to record."""
    import logging

    runtime_env = None
    if working_dir is not None:
        runtime_env = {"working_dir": str(working_dir)}
        commit = results.git_commit()
        if with_strategies and commit is not None:
            runtime_env["env_vars"] = {"FACEBENCH_GIT_COMMIT": commit}
    ray.init(address=address, runtime_env=runtime_env, include_dashboard=False, log_to_driver=False,
             logging_level=logging.WARNING)


def use_strategies_from(folder: Path) -> None:
    """Import the built-in strategies' package (:data:`STRATEGIES`) from ``folder``, as the
    registry's discovery then finds it; nothing when it is imported from there already.
    :class:`SweepError` when it was imported from elsewhere first (too late to change)."""
    folder = Path(folder).resolve()
    loaded = sys.modules.get(STRATEGIES)
    if loaded is not None:
        if [Path(path).resolve() for path in loaded.__path__] != [folder]:
            raise SweepError(f"{STRATEGIES} was imported from {list(loaded.__path__)} before {folder} could be used")
        return
    spec = importlib.util.spec_from_file_location(STRATEGIES, folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[STRATEGIES] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[STRATEGIES]
        raise
    setattr(sys.modules["facebench"], "strategies", module)


def _task(driver: dict, strategies: str | None, run: Callable, spec: RunSpec, out: str, threads: int,
          device: str | None, events, index: int) -> tuple[str, str, float]:
    """A run as a Ray task (``facebench.run.sweep.execute``), once its node is seen to run the
    driver's code (``driver``: the driver's :func:`code_version`); :class:`CodeMismatch` naming
    the node and the difference otherwise. ``strategies``: where the shipped working directory
    (the task's) holds the built-in strategies (:func:`shipped_strategies`), or None."""
    import ray

    if strategies is not None:
        use_strategies_from(Path.cwd() / strategies)
    difference = code_difference(driver, code_version(driver["strategies"]))
    if difference:
        node_id = ray.get_runtime_context().get_node_id()
        node = f"{ray.util.get_node_ip_address()} ({socket.gethostname()}, Ray node {node_id[:12]})"
        raise CodeMismatch(f"node {node} runs other code than the driver: {difference}. Install the driver's code on "
                           "every node (the same checkout and commit, `pip install -c constraints.txt -e '.[ray]'`, "
                           "the plugins the sweep runs), or ship it with --ray-working-dir (the checkout, its "
                           "strategies/ included, or a plugin's project folder)")
    return execute(run, spec, out, threads, device, events, index)


def code_version(strategies: Iterable[str]) -> dict:
    """The code this process runs for a sweep of the strategies named ``strategies``, as a
    sweep's driver and its Ray tasks compare it:

    - ``facebench``: the installed version;
    - ``git_commit``: of the checkout it runs from, "-dirty" with changes
      (``facebench.board.schema.git_commit``, as a result file records it);
    - ``sources``: sha256 of each of facebench's own Python files, by path in the package, the
      built-in strategies aside (two dirty checkouts may differ);
    - ``packages``: the installed version of each of :data:`PACKAGES`, None where missing;
    - ``strategies``: the source of each of ``strategies`` registered here
      (``StrategyEntry.source``, as a result file records it), by name; one not registered
      here is left out. No other strategy: plugins the sweep does not run do not matter.
    """
    import facebench
    from facebench.registry import list_strategies

    wanted = set(strategies)
    return {"facebench": facebench.__version__, "git_commit": results.git_commit(), "sources": _sources(),
            "packages": {name: _installed(name) for name in PACKAGES},
            "strategies": {entry.name: entry.source() for entry in list_strategies() if entry.name in wanted}}


def _installed(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def _sources() -> dict[str, str]:
    """sha256 of each of facebench's Python files, by POSIX path relative to the package, those
    of its built-in strategies aside (``code_version`` describes each swept strategy; an
    installed wheel holds them inside the package, a checkout beside it)."""
    import facebench

    root = Path(facebench.__file__).parent
    files = (path.relative_to(root) for path in root.rglob("*.py"))
    return {relative.as_posix(): hashlib.sha256((root / relative).read_bytes()).hexdigest()
            for relative in sorted(files) if relative.parts[0] != "strategies"}


def code_difference(driver: dict, node: dict) -> str | None:
    """How the code of a node differs from the driver's (both :func:`code_version` of the
    driver's strategies), in words, each difference once; None when it does not. Only the
    driver's strategies are compared: those are the ones the sweep runs."""
    found = [f"{key} {node[key]} on the node, {driver[key]} on the driver"
             for key in ("facebench", "git_commit") if node[key] != driver[key]]
    theirs, ours = node["sources"], driver["sources"]
    files = sorted(path for path in set(theirs) | set(ours) if theirs.get(path) != ours.get(path))
    if files:
        more = f" and {len(files) - SHOWN} more" if len(files) > SHOWN else ""
        found.append(f"facebench's source files differ: {', '.join(files[:SHOWN])}{more}")
    found += [f"{name} {node['packages'][name]} on the node, {version} on the driver"
              for name, version in driver["packages"].items() if node["packages"][name] != version]
    for name, ours in sorted(driver["strategies"].items()):
        theirs = node["strategies"].get(name)
        if theirs is None:
            found.append(f"strategy {name} missing on the node")
            continue
        found += [f"strategy {name}: {key} {_short(key, theirs[key])} on the node, "
                  f"{_short(key, ours[key])} on the driver" for key in COMPARED if theirs[key] != ours[key]]
    return "; ".join(found) or None


def _short(key: str, value) -> str:
    """A source field as a message shows it: a sha256's first 12 digits."""
    return str(value)[:12] if key == "sha256" and value is not None else str(value)
