"""Fuzzing the result files: a valid result mutated (a value replaced by any JSON value or by a
near miss of it, a key or item dropped, a key or item added) is either valid, and then
``leaderboard`` and ``compare`` run on a board holding it, or named by ``check``, one line per
problem, and skipped by the board; never an exception, never a hang.

The property is checked three ways: one mutation at every place of a result outside its matrices'
entries, driven by numpy's random generator (always run); mutations at places reached by random
walks, driven by hypothesis where it is installed (it shrinks a failing mutation to a small
one); and the ends of every range, on the whole board, plots included.
"""

import contextlib
import copy
import io
import json
import shutil
import signal
import tempfile
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

import fake_results
from facebench.board import aggregate as ag
from facebench.board import load as lb
from facebench.board import render as tables
from facebench.board import schema
from facebench.board.compare import compare
from facebench.cli import main

SCENARIO = "faceworld-quick"
MUTANT = "zz-mutant.json"  # after the board's files in path order: never the twin that is kept
SECONDS = 60  # one mutated file, checked and shown: longer is a hang
#: Values a mutation puts in, besides random numbers and nested lists and objects.
SCALARS = [None, True, False, 0, 1, -1, 3, 2**63, -(2**63) - 1, 10**30, 10**300, 0.5, -0.0, 1e308, 5e-324,
           float("nan"), float("inf"), float("-inf"), "", "3", "0.5", "true", "null", "lots", "0", "faceworld",
           "\ud800", "é☃", "\x00", "a b", "a.b", "[bold]x[/]"]


@pytest.fixture(scope="module")
def board(tmp_path_factory) -> Path:
    """A valid board: er-rand K=3 and naive, persons 0 and 1 of faceworld-quick, seed 0."""
    out = tmp_path_factory.mktemp("board")
    fake_results.write_board(out, {"er-rand": ([3], 1.0, 1.0), "naive": ([None], 0.0, 2.0)}, persons=("0", "1"))
    return out / SCENARIO


@pytest.fixture(scope="module")
def originals() -> list[dict]:
    """The documents mutated: runs that the board does not have, a sequential and a joint one."""
    return [fake_results.result("er-rand", 3, "1", seed=1), fake_results.result("joint", None, "0")]


# Mutations. A place is the path (keys and indices) of a value inside a document, () for the
# document itself. ----------------------------------------------------------------------------

class Choices:
    """Where the random choices of a mutation come from: ``below(n)``, a number in [0, n), and
    ``value()``, a random JSON value."""

    def __init__(self, below, value):
        self.below, self.value = below, value


def places(value, path: tuple = ()) -> list[tuple]:
    """The place of ``value`` and of every value inside it, but the entries of score matrices."""
    if path[-1:] == ("matrix",):
        return [path]
    inside = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    return [path] + [place for key, item in inside for place in places(item, path + (key,))]


def walk(document, choose: Choices) -> tuple:
    """A place reached from the document by steps into children picked at random, stopping at
    each step with chance 3/10: the small parts of a result are reached as often as ``scores``."""
    place, value = (), document
    while isinstance(value, (dict, list)) and value and (not place or choose.below(10) >= 3):
        keys = list(value) if isinstance(value, dict) else range(len(value))
        key = keys[choose.below(len(keys))]
        place, value = place + (key,), value[key]
    return place


def mutated(document, place: tuple, choose: Choices):
    """``document`` with the value at ``place`` replaced, dropped, or, for an object or a list,
    given a new key or item; the new value is random or a near miss of the old one."""
    old = _at(document, place)
    misses = near_misses(old)
    new = misses[choose.below(len(misses))] if choose.below(2) else choose.value()
    operation = choose.below(3)
    if operation == 1 and place:
        return dropped(document, place)
    if operation == 2 and isinstance(old, (dict, list)):
        return added(document, place, str(choose.value()), new)
    return replaced(document, place, new)


def near_misses(value) -> list:
    """Values a lax reader takes for ``value``: it as text, in a list, in an object, true, null,
    and for a number a fraction, a negative one and a huge one."""
    misses = [str(value), [value], {"value": value}, True, None]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        misses += [value + 0.5, -value - 1, value * 2**64]
    return misses


def replaced(document, place: tuple, new):
    """``document`` with the value at ``place`` replaced by ``new``."""
    if not place:
        return new
    out = copy.deepcopy(document)
    _at(out, place[:-1])[place[-1]] = new
    return out


def dropped(document, place: tuple):
    """``document`` without the value at ``place`` (not the document itself)."""
    out = copy.deepcopy(document)
    del _at(out, place[:-1])[place[-1]]
    return out


def added(document, place: tuple, key: str, new):
    """``document`` with ``new`` added to the object at ``place`` under ``key``, or at the end of
    the list at ``place``."""
    out = copy.deepcopy(document)
    container = _at(out, place)
    if isinstance(container, dict):
        container[key] = new
    else:
        container.append(new)
    return out


def _at(document, place: tuple):
    for key in place:
        document = document[key]
    return document


# The property. -------------------------------------------------------------------------------

@contextlib.contextmanager
def time_limit(seconds: int):
    """Raise TimeoutError in the block after ``seconds``: a hang fails instead of waiting forever."""
    def expire(signum, frame):
        raise TimeoutError(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def shown(*renderables) -> None:
    """Print rich renderables to nowhere, as the terminal would show them."""
    Console(file=io.StringIO(), width=200).print(*renderables)


def valid_or_refused(document, board: Path, folder: Path) -> bool:
    """Put ``document`` as a file on a copy of ``board`` under ``folder`` and assert the property
    (the board's views drawn as text; the plots are drawn by the test of the ends of the ranges);
    whether the file is valid."""
    mine = shutil.copytree(board, folder / SCENARIO)
    path = mine / MUTANT
    path.write_text(json.dumps(document, allow_nan=True))
    with time_limit(SECONDS):
        problems = lb.check(mine)
        assert all(line.startswith(f"{path}: ") and "\n" not in line for line in problems), problems
        view = lb.load(mine)
        assert view.skipped == tuple(problems) and len(view.runs) == view.files - bool(problems)
        table = ag.aggregate(view)
        tables.as_json(view, table)
        shown(tables.rich_table(view, table))
        if not problems:  # with the file refused, compare sees the board as it was
            comparison = compare(mine, board)
            tables.comparison_json(comparison)
            shown(*tables.comparison_tables(comparison))
    return not problems


@pytest.mark.slow  # starts processes or renders at scale: seconds each
def test_a_mutation_at_every_place_ends_valid_or_refused(board, originals, tmp_path):
    rng = np.random.default_rng(2025)
    choose = Choices(lambda n: int(rng.integers(n)), lambda: random_value(rng))
    outcomes = [valid_or_refused(mutated(original, place, choose), board, tmp_path / f"{number}-{index}")
                for number, original in enumerate(originals) for index, place in enumerate(places(original))]
    assert any(outcomes) and not all(outcomes)  # both ends were reached


def random_value(rng: np.random.Generator, depth: int = 0):
    """A JSON value: one of SCALARS, a random number, or a list or object of such values."""
    draw = rng.random()
    if depth < 3 and draw < 0.15:
        return [random_value(rng, depth + 1) for _ in range(rng.integers(4))]
    if depth < 3 and draw < 0.3:
        return {str(random_value(rng, 3)): random_value(rng, depth + 1) for _ in range(rng.integers(4))}
    if draw < 0.4:
        return float(rng.normal() * 10.0 ** rng.integers(-300, 300))
    if draw < 0.5:
        return int(rng.integers(-(2**62), 2**62))
    return SCALARS[rng.integers(len(SCALARS))]


def test_hypothesis_mutations_end_valid_or_refused(board, originals):
    hypothesis = pytest.importorskip("hypothesis")
    st = hypothesis.strategies
    scalars = (st.none() | st.booleans() | st.integers(-(2**200), 2**200) | st.floats() | st.text(max_size=8)
               | st.sampled_from(SCALARS))
    values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                          | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)

    @hypothesis.settings(max_examples=60, deadline=None, database=None,
                         suppress_health_check=[hypothesis.HealthCheck.too_slow])
    @hypothesis.given(st.data())
    def property_holds(data):
        choose = Choices(lambda n: data.draw(st.integers(0, n - 1)), lambda: data.draw(values))
        document = originals[choose.below(len(originals))]
        for _ in range(1 + choose.below(3)):
            document = mutated(document, walk(document, choose), choose)
        with tempfile.TemporaryDirectory() as folder:
            valid_or_refused(document, board, Path(folder))

    property_holds()


@pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")  # an interval of scores near 1e300
def test_the_ends_of_every_range_make_a_board_with_plots(tmp_path, capsys):
    """The largest integers and the largest and smallest scores a valid file may hold."""
    largest = 2**63 - 1
    for person, factor in (("0", 1e300), ("1", -1e300), ("2", 1e-300)):
        data = fake_results.result("er-rand", largest, person, seed=2**32 - 1, scenario="faceworld")
        data["memory"] = {"items": largest, "bytes": largest, "bytes_per_item": 1e308}
        for name, entry in data["scores"].items():
            matrix = np.array(entry["matrix"], dtype=float) * factor
            data["scores"][name] = schema.score_entry(matrix, entry["direction"], entry["print_scale"])
        fake_results.write(data, tmp_path)
    fake_results.write(fake_results.result("joint", None, "0", seed=0, scenario="faceworld"), tmp_path)
    folder = tmp_path / "faceworld"
    assert lb.check(folder) == []
    assert main(["leaderboard", str(folder), "--format", "md", "--out", str(tmp_path / "board")]) == 0
    assert main(["compare", str(folder), "--against", str(folder)]) == 0
    assert "| 9223372036854775807 | 1 | er-rand | a | 3 |" in capsys.readouterr().out
