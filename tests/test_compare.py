"""Comparing a new method with a board: rank at each K, paired differences, the paired t-test."""

import io
import json

import numpy as np
import pytest
from rich.console import Console
from scipy import stats

import fake_results
from facebench.board import aggregate as ag
from facebench.board import load as lb
from facebench.board import render as tables
from facebench.cli import main
from facebench.board.compare import compare

SCENARIO = "faceworld"  # 5 persons: the boards' persons 0-2 are its persons
# er-new: far better than every board row at K=3, far worse at K=5.
NEW = {"er-new": ([3], 4.0, 0.2)}
WORSE = {"er-new": ([5], -2.0, 2.0)}


@pytest.fixture(scope="module")
def dirs(tmp_path_factory):
    board, mine = tmp_path_factory.mktemp("board"), tmp_path_factory.mktemp("mine")
    fake_results.write_board(board, scenario=SCENARIO)
    fake_results.write_board(mine, NEW, scenario=SCENARIO)
    fake_results.write_board(mine, WORSE, scenario=SCENARIO)
    return mine / SCENARIO, board / SCENARIO


def test_the_new_method_is_ranked_among_the_rows_of_its_k(dirs):
    ranks = compare(*dirs).ranks
    assert [(k, r, of) for k, r, of in zip(ranks["K"], ranks["rank"], ranks["of"])] == [(3, 1, 3), (5, 3, 3)]


def test_differences_are_paired_over_person_and_seed_with_a_paired_t_test(dirs):
    mine, board = dirs
    differences = compare(mine, board).differences
    row = differences[(differences["K"] == 3) & (differences["baseline"] == "er-rand")
                      & (differences["column"] == "recon_identity_forgetting_x10")].iloc[0]

    def values(folder):
        return np.array([10 * json.loads((folder / f"person{p}-seed0.json").read_text())
                         ["scores"]["recon_identity"]["forgetting"] for p in range(3)])

    a, b = values(mine / "er-new-k3"), values(board / "er-rand-k3")
    test = stats.ttest_rel(a, b)
    assert row["n"] == 3
    assert row["difference"] == pytest.approx(np.mean(a - b))
    assert row["p"] == pytest.approx(test.pvalue)
    low, high = test.confidence_interval(0.95)
    assert row["ci95"] == pytest.approx((high - low) / 2)


def test_baselines_are_the_rows_of_the_same_k_and_those_without_a_buffer(dirs):
    differences = compare(*dirs).differences
    at3 = differences[differences["K"] == 3]
    assert set(zip(at3["baseline"], at3["baseline_K"].map(ag.k_label))) == {
        ("naive", "-"), ("joint", "-"), ("er-rand", "3"), ("er-hull", "3")}
    joint = at3[at3["baseline"] == "joint"]
    assert len(joint) == 5 and not joint["column"].str.contains("forgetting").any()  # a joint model has none
    assert (at3[at3["baseline"] != "joint"].groupby("baseline").size() == len(ag.COLUMNS)).all()


def test_only_pairs_on_both_sides_are_compared(tmp_path, dirs):
    _, board = dirs
    fake_results.write_board(tmp_path, NEW, persons=("1", "2"), scenario=SCENARIO)
    differences = compare(tmp_path / SCENARIO, board).differences
    assert differences["n"].eq(2).all()


def test_one_pair_gives_a_difference_without_interval_or_test(tmp_path, dirs):
    _, board = dirs
    fake_results.write_board(tmp_path, NEW, persons=("0",), scenario=SCENARIO)
    differences = compare(tmp_path / SCENARIO, board).differences
    assert differences["n"].eq(1).all() and differences["p"].isna().all() and differences["ci95"].isna().all()
    assert differences["difference"].notna().all()


def test_results_of_another_scenario_are_refused(tmp_path, dirs):
    _, board = dirs
    fake_results.write_board(tmp_path, NEW, persons=("0",), scenario="faceworld-quick")
    with pytest.raises(lb.LeaderboardError, match=r"er-new-k3/person0-seed0.json: scenario: 'faceworld-quick'"):
        compare(tmp_path / "faceworld-quick", board)


def test_compare_command(dirs, capsys):
    mine, board = dirs
    assert main(["compare", str(mine), "--against", str(board), "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["test"].startswith("two-sided paired t-test")
    assert [(r["K"], r["rank"], r["of"]) for r in payload["ranks"]] == [(3, 1, 3), (5, 3, 3)]
    comparison = compare(mine, board)
    console = Console(file=io.StringIO(), width=250, record=True)
    for table in tables.comparison_tables(comparison):
        console.print(table)
    text = console.export_text()
    assert "er-new would rank 1 of 3 at K=3" in text and "er-new would rank 3 of 3 at K=5" in text
    assert "p=" in text and "paired t-test" in text


def test_a_baseline_without_common_person_and_seed_is_listed_without_numbers(tmp_path, dirs):
    _, board = dirs
    fake_results.write_board(tmp_path, NEW, persons=("0",), seeds=(9,), scenario=SCENARIO)
    comparison = compare(tmp_path / SCENARIO, board)
    assert comparison.differences["n"].eq(0).all() and comparison.differences["difference"].isna().all()
    assert set(comparison.differences["baseline"]) == {"naive", "joint", "er-rand", "er-hull"}
    console = Console(file=io.StringIO(), width=250, record=True)
    console.print(*tables.comparison_tables(comparison))
    assert "no pairs" in console.export_text()
