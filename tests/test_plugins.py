"""Third-party strategies through real entry-point metadata, with no change to facebench.

The worked example, tests/plugin_example (the strategy "farthest-first"), is installed into a
folder on PYTHONPATH with the entry point its pyproject.toml declares (a dist-info as pip
writes one, but offline and without a build backend), beside a distribution of three broken
plugins. facebench's own commands, in new processes, then list it, check it, run it, sweep it
and compare it with a board of built-ins, while the broken plugins are reported by name. And a
strategy's origin does not depend on who imported its module first.
"""

import json
import os
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

from facebench.models.zoo import NAMES, AssetError, card
from facebench.registry import GROUP

EXAMPLE = Path(__file__).parent / "plugin_example"
QUICK = "faceworld-quick"
BUILT_IN = ["cumulative", "er-hull", "er-rand", "joint", "joint-so-far", "kmeans", "naive", "reservoir"]

BROKEN = {  # entry point -> (its value, the module it names, what the warning must say)
    "broken": ("fbbroken_import", "import a_module_that_does_not_exist\n",
               "No module named 'a_module_that_does_not_exist'"),
    "duplicate": ("fbbroken_duplicate", '''
        from facebench import register_strategy
        from facebench.replay import ReplayBuffer

        @register_strategy("er-hull")
        class Impostor(ReplayBuffer):
            """Takes a built-in's name."""
            def select(self, pool, k, rng):
                return []
        ''', "strategy name 'er-hull' is already taken by facebench.strategies.er_hull.ERHull (built-in)"),
    "wrong-base": ("fbbroken_base:NotABuffer", '''
        class NotABuffer:
            """Not derived from ReplayBuffer."""
        ''', "is a class but not an Avalanche ExemplarsBuffer"),
}


def install(site: Path, name: str, version: str, entry_points: dict[str, str]) -> None:
    """Declare the distribution ``name`` in ``site`` as an installer does: a dist-info folder whose
    METADATA and entry_points.txt ``importlib.metadata`` reads wherever ``site`` is on the path
    (its code must be in ``site`` too)."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    (info / "entry_points.txt").write_text(f"[{GROUP}]\n" + "".join(f"{k} = {v}\n" for k, v in entry_points.items()))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A folder for PYTHONPATH holding the example, installed with the package and the entry
    point its pyproject.toml declares, and a distribution of the broken plugins."""
    site = tmp_path_factory.mktemp("site")
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    for package in project["tool"]["setuptools"]["packages"]:
        shutil.copytree(EXAMPLE / package, site / package, ignore=shutil.ignore_patterns("__pycache__"))
    meta = project["project"]
    install(site, meta["name"], meta["version"], meta["entry-points"][GROUP])
    install(site, "fbbroken", "0.1", {name: value for name, (value, _, _) in BROKEN.items()})
    for value, source, _ in BROKEN.values():
        (site / f"{value.split(':')[0]}.py").write_text(textwrap.dedent(source))
    return site


def facebench(site, *args):
    env = {**os.environ, "PYTHONPATH": str(site), "COLUMNS": "250"}
    return subprocess.run([sys.executable, "-m", "facebench.cli", *args], capture_output=True, text=True, env=env)


@pytest.mark.slow  # starts processes or renders at scale: seconds each
def test_the_plugin_is_listed_and_the_broken_ones_are_named(site):
    listed = facebench(site, "strategies")
    assert listed.returncode == 0, listed.stderr
    rows = {line.split()[0]: line for line in listed.stdout.splitlines() if line.strip()}
    assert set(BUILT_IN) <= set(rows)
    assert "replay" in rows["farthest-first"] and "buffer_size" in rows["farthest-first"]
    assert "Farthest-first traversal of the pool latents" in rows["farthest-first"]
    assert not {"broken", "duplicate", "wrong-base", "Impostor"} & set(rows)
    warnings = [line for line in listed.stderr.splitlines() if "PluginWarning" in line]
    assert len(warnings) == len(BROKEN)
    for name, (value, _, why) in BROKEN.items():
        assert any(f"strategy plugin '{name}' ({value}) not loaded: " in line and why in line for line in warnings)


@pytest.mark.slow  # starts processes or renders at scale: seconds each
def test_a_broken_plugin_is_not_run_and_the_warning_says_why(site, tmp_path):
    result = facebench(site, "run", "--strategy", "wrong-base", "--buffer-size", "2", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "unknown strategy 'wrong-base'" in result.stderr and "not an Avalanche ExemplarsBuffer" in result.stderr


@pytest.mark.slow  # starts processes or renders at scale: seconds each
def test_the_plugin_passes_the_kit_where_it_is_installed(site):
    code = "from facebench.testing import check_strategy; print(check_strategy('farthest-first'))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(site)})
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("farthest-first: 10 checks passed")


@pytest.mark.slow  # starts processes or renders at scale: seconds each
def test_a_built_in_is_built_in_whatever_imported_it_first(site):
    code = ("import json, facebench.strategies.er_hull, facebench.strategies.reservoir, facebench_farthest\n"
            "from facebench.registry import list_strategies\n"
            "print(json.dumps({e.name: e.origin for e in list_strategies()}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": str(site)})
    origins = json.loads(result.stdout)
    assert {origins[name] for name in BUILT_IN} == {"built-in"}
    assert origins["farthest-first"] == "facebench_farthest"  # imported before discovery: its module


def _missing_zoo() -> list[str]:
    missing = []
    for name in NAMES:
        try:
            card(name)
        except AssetError:
            missing.append(name)
    return missing


MISSING = _missing_zoo()


@pytest.mark.slow
@pytest.mark.skipif(bool(MISSING), reason=f"facebench run needs the pretrained model zoo, which lacks "
                                          f"{', '.join(MISSING)} (build: facebench pretrain ...)")
@pytest.mark.usefixtures("anchor_cache")  # the subprocesses inherit $FACEBENCH_CACHE
def test_the_plugin_runs_sweeps_and_compares_with_a_board(site, tmp_path):
    board, mine = tmp_path / "board", tmp_path / "mine"
    quick = ["--scenario", QUICK]
    made = facebench(site, "sweep", *quick, "--strategies", "naive,er-rand", "--buffer-sizes", "2",
                     "--persons", "0", "--out", str(board), "--jobs", "1", "--threads", "1")
    assert made.returncode == 0, made.stderr
    ran = facebench(site, "run", "--strategy", "farthest-first", *quick, "--buffer-size", "2", "--person", "0",
                    "--out", str(mine), "--threads", "1")
    assert ran.returncode == 0, ran.stderr
    assert (mine / QUICK / "farthest-first-k2" / "person0-seed0.json").exists()
    swept = facebench(site, "sweep", *quick, "--strategies", "farthest-first", "--buffer-sizes", "2",
                      "--persons", "0,1", "--out", str(mine), "--jobs", "1", "--threads", "1")
    assert swept.returncode == 0, swept.stderr
    assert "2 runs: 1 already done, 1 finished" in swept.stdout  # person 1 ran in a spawned worker
    checked = facebench(site, "leaderboard", str(mine / QUICK), "--check")
    assert checked.returncode == 0 and "2 result files, all valid" in checked.stdout, checked.stdout
    compared = facebench(site, "compare", str(mine / QUICK), "--against", str(board / QUICK), "--format", "json")
    assert compared.returncode == 0, compared.stderr
    comparison = json.loads(compared.stdout)
    [rank] = comparison["ranks"]
    assert (rank["method"], rank["K"], rank["of"]) == ("farthest-first", 2, 2)
    baselines = {(row["baseline"], row["n"]) for row in comparison["differences"]}
    assert baselines == {("er-rand", 1), ("naive", 1)}  # paired on person 0, the board's one person
