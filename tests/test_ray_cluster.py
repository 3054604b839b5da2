"""Sweeps on a Ray cluster of two nodes on this machine, as the README's "Sweeping on a Ray cluster" sets one up.

The cluster: ``ray start --head`` and a second ``ray start --address`` (one CPU each), with
FACEBENCH_CACHE and RAY_AUTH_MODE in the environment of both, in a temporary folder; each
``ray start`` in a session of its own, whose process group (every Ray process it started) is
ended at teardown: never ``ray stop``, which stops every Ray of the machine.

Each sweep's driver is a fresh process (this file run as a script, :func:`drive`), as
``facebench sweep`` is: a process keeps the authentication mode of its first Ray session
(a local instance turns token authentication on in the process that started it), so a driver
inside the test session would depend on the tests before it.

A sweep of two fake runs (each waits until both started, so with one CPU per node they run on
both nodes) reports its sessions to the driver and ships a working directory that holds the
driver's strategies/, one of them a strategy the nodes' checkout lacks; a driver whose code
differs from the nodes' is refused; one real tiny run records its device and computes its
anchors in the cluster's cache.
"""

import contextlib
import importlib.util
import inspect
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from rich.console import Console

from facebench import registry
from facebench.board import schema
from facebench.run import ray_executor
from facebench.run import sweep as sweeps
from facebench.run.runner import RunSpec
from facebench.run.sweep import SweepError, grid, sweep

ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'facebench[ray]'")
pytestmark = pytest.mark.slow  # starts a cluster: tens of seconds
QUICK = "faceworld-quick"
STRATEGIES = importlib.util.find_spec("facebench.strategies").submodule_search_locations[0]
"""The checkout's strategies/, found without importing it: a driver imports it from its shipped copy."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def end_groups(groups: list[int]) -> None:
    """End the process groups ``groups``: SIGTERM, then SIGKILL to what is left after 3 s (a
    raylet may outlive a SIGTERM)."""
    for sent, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 5.0)):
        for group in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, sent)
        deadline = time.monotonic() + wait
        while groups and time.monotonic() < deadline:
            groups = [group for group in groups if _alive(group)]
            time.sleep(0.2)


def _alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """The address of a two-node cluster and the cache its nodes were started with."""
    root = tmp_path_factory.mktemp("cluster")
    # Ray's sockets live under its temp dir, and a Unix socket's path may not exceed 107 bytes:
    # pytest's folders (deeper under pytest-xdist) are too long, so a short one under /tmp
    short = Path(tempfile.mkdtemp(prefix="fb-ray-", dir="/tmp"))
    env = {**os.environ, "FACEBENCH_CACHE": str(root / "cache"), "RAY_AUTH_MODE": "disabled"}
    port = free_port()
    ray_start = [str(Path(sys.executable).with_name("ray")), "start"]

    def node():  # one CPU, a small object store, an agent port of its own: two nodes on one machine
        return ["--num-cpus", "1", "--object-store-memory", str(100 * 2**20), "--disable-usage-stats",
                "--dashboard-agent-listen-port", str(free_port())]

    starts = [[*ray_start, "--head", "--port", str(port), "--temp-dir", str(short), "--include-dashboard=false",
               "--ray-client-server-port", str(free_port()), *node()],
              [*ray_start, "--address", f"127.0.0.1:{port}", *node()]]
    groups = []
    try:
        for command in starts:
            started = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.PIPE,
                                       stderr=subprocess.STDOUT, text=True)
            groups.append(started.pid)  # the leader of the group of every process it starts
            output, _ = started.communicate(timeout=180)
            if started.returncode:
                pytest.skip(f"Ray cannot start a cluster here: {output[-800:]}")
        yield {"address": f"127.0.0.1:{port}", "cache": root / "cache"}
    finally:
        end_groups(groups)
        shutil.rmtree(short, ignore_errors=True)


def spec(person: str) -> RunSpec:
    return RunSpec("er-rand", {"buffer_size": 3}, QUICK, person, 0)


SHIPPED = RunSpec("shipped-only", {}, QUICK, "1", 0)
"""A run of a strategy only the driver's (shipped) strategies/ holds."""


def shipped_checkout(folder: Path) -> None:
    """``folder`` as a checkout's working directory to ship: a marker file, and a copy of the
    checkout's strategies/ with one more strategy, ``shipped-only``."""
    folder.mkdir()
    (folder / "shipped.txt").write_text("on every node")
    shutil.copytree(STRATEGIES, folder / "strategies", ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "strategies" / "shipped_only.py").write_text(
        'from facebench.registry import register_strategy\n\n\n@register_strategy("shipped-only")\n'
        'def shipped_only():\n    """Naive fine-tuning, only in the shipped strategies/."""\n    return []\n')


def fake_run(spec, out, resume=False, force=False, progress=None, device=None):
    """A run of three sessions, each reported through ``progress``, once both runs of the sweep
    started (a marker file each beside ``out``); its result file says where and how it ran."""
    started = Path(out).parent / "started"
    started.mkdir(exist_ok=True)
    (started / spec.person).touch()
    deadline = time.monotonic() + 120
    while len(list(started.iterdir())) < 2 and time.monotonic() < deadline:
        time.sleep(0.2)
    for session in (1, 2, 3):
        progress("train", 1, 1)
        progress("session", session, 3)
    import torch

    path = sweeps.result_path(spec, out)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({
        "node": ray.get_runtime_context().get_node_id(), "cache": os.environ.get("FACEBENCH_CACHE"),
        "device": device, "threads": torch.get_num_threads(), "resume": resume,
        "shipped": Path("shipped.txt").exists(),  # the working directory: the shipped folder
        "strategy": inspect.getsourcefile(registry.get_strategy(spec.strategy).target),
        "commit": schema.git_commit()}))
    return path


def drive(case: str, address: str, out: str) -> None:
    """A sweep's driver (in a fresh process): ``case`` "fake" (two fake runs, er-rand and
    shipped-only, shipping ``out``/shipped, whose strategies/ the driver imports its strategies
    from), "other-code" (the fake run of person 0, from a driver whose er-rand source
    differs) or "real" (one real run). Prints the sweep's lines, then its outcome as JSON on
    the last line (finished files, errors, or the error that stopped it)."""
    options = {"executor": "ray", "address": address, "device": "cpu", "console": Console(file=sys.stdout, width=250)}
    if case == "fake":
        ray_executor.use_strategies_from(Path(out) / "shipped" / "strategies")
        specs, options = [spec("0"), SHIPPED], {**options, "run": fake_run, "working_dir": Path(out) / "shipped"}
    elif case == "other-code":
        mine = ray_executor.code_version

        def other(strategies):
            version = mine(strategies)
            changed = {**version["strategies"]["er-rand"], "sha256": "0" * 64}
            return {**version, "strategies": {**version["strategies"], "er-rand": changed}}

        ray_executor.code_version = other
        specs, options = [spec("0")], {**options, "run": fake_run}
    else:
        specs = grid(QUICK, ["er-rand"], [3], ["0"], [0])
    try:
        report = sweep(specs, Path(out) / "runs", **options)
    except SweepError as error:
        print(json.dumps({"stopped": str(error)}))
        return
    print(json.dumps({"finished": [str(o.path) for o in report.finished], "failed": [o.error for o in report.failed]}))


def driven(case: str, cluster: dict, out: Path) -> tuple[list[str], dict]:
    """Run :func:`drive` in a fresh process: the lines it printed, and its outcome."""
    env = {**os.environ, "RAY_AUTH_MODE": "disabled"}
    done = subprocess.run([sys.executable, __file__, case, cluster["address"], str(out)], env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    *lines, outcome = done.stdout.splitlines()
    return lines, json.loads(outcome)


def test_a_sweep_runs_on_both_nodes_and_the_driver_shows_their_sessions(cluster, tmp_path):
    shipped_checkout(tmp_path / "shipped")
    lines, outcome = driven("fake", cluster, tmp_path)
    assert outcome["failed"] == [] and len(outcome["finished"]) == 2
    records = [json.loads(Path(path).read_text()) for path in outcome["finished"]]
    assert len({record["node"] for record in records}) == 2  # one run per node
    assert all(record["cache"] == str(cluster["cache"]) for record in records)  # as `ray start` was given it
    assert all(record["device"] == "cpu" and record["threads"] == 1 and record["resume"] for record in records)
    assert all(record["shipped"] for record in records)
    # both nodes import the strategies from their copy of the shipped strategies/, shipped-only included, and
    # record the driver's commit: they run the driver's checkout
    assert sorted(Path(record["strategy"]).name for record in records) == ["er_rand.py", "shipped_only.py"]
    assert not any(record["strategy"].startswith((str(tmp_path), STRATEGIES))
                   for record in records)
    assert all(record["commit"] == schema.git_commit() for record in records)
    assert lines[0] == (f"sweep: 2 runs to do (0 to resume), 0 already done; Ray at {cluster['address']}, 1 CPU "
                        f"per run, shipping {tmp_path / 'shipped'}; device cpu")
    for run in (spec("0"), SHIPPED):  # every session of both tasks, on the driver, before its run's line
        mine = [line for line in lines if line.startswith(f"  {sweeps.label(run)}: ")]
        assert [line.split(": ")[1].split(",")[0] for line in mine] == [f"session {n}/3 done" for n in (1, 2, 3)]
        ended = next(i for i, line in enumerate(lines) if f"{sweeps.label(run)}: finished" in line)
        assert lines.index(mine[-1]) < ended
    assert "(0 already done, 2 finished, 0 failed), sessions 6/6, " in lines[-2]


def test_a_node_that_runs_other_code_than_the_driver_stops_the_sweep(cluster, tmp_path):
    """The driver's er-rand source is changed: every node now differs from it, and says how."""
    _, outcome = driven("other-code", cluster, tmp_path)
    source = registry.get_strategy("er-rand").source()["sha256"]
    assert re.fullmatch(rf"node \S+ \(.+, Ray node \w{{12}}\) runs other code than the driver: strategy er-rand: "
                        rf"sha256 {source[:12]} on the node, 000000000000 on the driver\. .*the sweep stopped.*",
                        outcome["stopped"])
    assert not sweeps.result_path(spec("0"), tmp_path / "runs").exists()


def test_a_real_run_on_the_cluster_records_its_device_and_anchors_in_the_clusters_cache(cluster, tmp_path):
    _, outcome = driven("real", cluster, tmp_path)
    assert outcome["failed"] == []
    [path] = outcome["finished"]
    document = json.loads(Path(path).read_text())
    assert schema.validate(document) == [] and document["provenance"]["device"] == "cpu"
    assert list((cluster["cache"] / "anchors").glob("*.pt"))


if __name__ == "__main__":
    drive(*sys.argv[1:])
