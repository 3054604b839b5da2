"""The Ray executor's parts that need no cluster: the code check between a driver and a node (on
fake descriptions of both), and where a shipped working directory holds the strategies.
``tests/test_ray_cluster.py`` sweeps on a real two-node cluster."""

import hashlib
from pathlib import Path

import pytest

import facebench.strategies
from conftest import isolate_registry
from facebench import registry
from facebench.run import ray_executor
from facebench.run.sweep import SweepError


def source(sha: str, distribution: str = "facebench", version: str = "0.1.0", **more) -> dict:
    return {"module": "facebench.strategies.a", "sha256": sha * 64, "distribution": distribution,
            "version": version, **more}


DRIVER = {"facebench": "0.1.0", "git_commit": "abc", "sources": {"cli.py": "1", "run/sweep.py": "2"},
          "packages": {"torch": "2.14.1", "avalanche-lib": "0.6.0"},
          "strategies": {"a": source("1"), "herding": source("2", "facebench-herding", "0.3", commit="c0ffee")}}


def test_the_same_code_is_no_difference_and_an_editable_plugins_own_commit_is_not_compared():
    assert ray_executor.code_difference(DRIVER, dict(DRIVER)) is None
    node = {**DRIVER, "strategies": {**DRIVER["strategies"], "herding": {**DRIVER["strategies"]["herding"],
                                                                         "commit": "beef-dirty"}}}
    assert ray_executor.code_difference(DRIVER, node) is None  # its checkout's commit; the code's sha256 is equal


def test_a_difference_in_what_the_sweep_runs_is_named_precisely():
    node = {"facebench": "0.2.0", "git_commit": "abc-dirty",
            "sources": {"cli.py": "1", "run/sweep.py": "3", "new.py": "4"},
            "packages": {"torch": "2.13.0", "avalanche-lib": "0.6.0"},
            "strategies": {"a": source("3", module="strategies_copy.a"),
                           "unswept": source("4")}}  # not one the driver sweeps: not compared
    assert ray_executor.code_difference(DRIVER, node) == (
        "facebench 0.2.0 on the node, 0.1.0 on the driver; git_commit abc-dirty on the node, abc on the driver; "
        "facebench's source files differ: new.py, run/sweep.py; torch 2.13.0 on the node, 2.14.1 on the driver; "
        "strategy a: module strategies_copy.a on the node, facebench.strategies.a on the driver; "
        "strategy a: sha256 333333333333 on the node, 111111111111 on the driver; "
        "strategy herding missing on the node")
    plugin = {**DRIVER, "strategies": {**DRIVER["strategies"], "herding": source("2", "facebench-herding", "0.4")}}
    assert ray_executor.code_difference(DRIVER, plugin) == (
        "strategy herding: version 0.4 on the node, 0.3 on the driver")
    no_avalanche = {**DRIVER, "packages": {"torch": "2.14.1", "avalanche-lib": None}}
    assert ray_executor.code_difference(DRIVER, no_avalanche) == "avalanche-lib None on the node, 0.6.0 on the driver"
    many = {**DRIVER, "sources": {f"m{i}.py": "0" for i in range(7)}}
    assert ray_executor.code_difference(DRIVER, many) == (
        "facebench's source files differ: cli.py, m0.py, m1.py, m2.py, m3.py and 4 more")


def test_the_code_version_describes_only_the_swept_strategies(monkeypatch):
    fresh = isolate_registry(monkeypatch, "done")

    @fresh.register_strategy("driver-only-plugin")
    def driver_only():
        """A plugin installed on the driver only, which the sweep does not run."""
        return []

    version = ray_executor.code_version(["er-rand", "no-such-strategy"])
    assert set(version["strategies"]) == {"er-rand"}  # neither the plugin nor a name registered nowhere
    assert version["strategies"]["er-rand"] == registry.get_strategy("er-rand").source()
    assert version["facebench"] == registry.importlib.metadata.version("facebench")
    installed = registry.importlib.metadata.version
    assert version["packages"] == {"torch": installed("torch"), "avalanche-lib": installed("avalanche-lib")}
    sweep_py = Path(ray_executor.__file__).with_name("sweep.py")
    assert version["sources"]["run/sweep.py"] == hashlib.sha256(sweep_py.read_bytes()).hexdigest()
    assert not any(path.startswith("strategies/") for path in version["sources"])
    assert version == ray_executor.code_version(["er-rand"])
    node = ray_executor.code_version(["er-rand"])  # a node without the plugin: no difference
    assert ray_executor.code_difference(version, node) is None
    swept = ray_executor.code_version(["er-rand", "driver-only-plugin"])
    assert ray_executor.code_difference(swept, node) == "strategy driver-only-plugin missing on the node"


def test_a_working_directory_that_holds_the_checkouts_strategies_ships_them(tmp_path):
    folder = Path(facebench.strategies.__path__[0]).resolve()
    assert ray_executor.shipped_strategies(folder.parent) == "strategies"  # the checkout
    assert ray_executor.shipped_strategies(folder) == "."  # strategies/ itself
    assert ray_executor.shipped_strategies(tmp_path) is None  # e.g. a plugin's project: the nodes' own
    assert ray_executor.shipped_strategies(None) is None


def test_the_strategies_are_imported_from_the_shipped_folder_only_before_they_are_imported(tmp_path):
    ray_executor.use_strategies_from(Path(facebench.strategies.__path__[0]))  # already from there: nothing to do
    with pytest.raises(SweepError, match="facebench.strategies was imported from .* before .* could be used"):
        ray_executor.use_strategies_from(tmp_path)
