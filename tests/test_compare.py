"""Comparing a new method with a board: coverage, rank over shared pairs, paired differences, the
paired t-test, Holm's correction and the verdicts, the text at 80 columns and the JSON."""

import io
import json
import re
import shutil

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
    no_forgetting = sum(summary != "forgetting" for _, summary in ag.COLUMNS)
    assert len(joint) == no_forgetting and not joint["column"].str.contains("forgetting").any()  # a joint model has none
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


def test_a_run_that_records_a_default_pairs_with_a_board_run_that_does_not(tmp_path, dirs):
    """er-new took a parameter with a default (use_history) after the board's runs: its new runs
    record it, the board's do not, and they are one method, paired person by person."""
    _, board = dirs
    board = shutil.copytree(board, tmp_path / "board")
    fake_results.write_board(tmp_path / "old", NEW, scenario=SCENARIO)  # er-new at K=3, before use_history
    shutil.copytree(tmp_path / "old" / SCENARIO / "er-new-k3", board / "er-new-k3")
    for person in ("0", "1", "2"):
        data = fake_results.result("er-next", 3, person, 0, SCENARIO, quality=5.0)  # other noise than the board's
        data["strategy"].update(name="er-new", params={"buffer_size": 3, "use_history": True},
                                defaults={"use_history": True})
        fake_results.write(data, tmp_path / "mine")
    comparison = compare(tmp_path / "mine" / SCENARIO, board)
    assert comparison.ranks["method"].tolist() == ["er-new"]
    differences = comparison.differences
    same = differences[differences["baseline"] == "er-new"]
    assert len(same) == len(ag.COLUMNS) and same["n"].eq(3).all() and same["baseline_K"].eq(3).all()


def test_results_of_another_scenario_are_refused(tmp_path, dirs):
    _, board = dirs
    fake_results.write_board(tmp_path, NEW, persons=("0",), scenario="faceworld-quick")
    with pytest.raises(lb.LeaderboardError, match=r"er-new-k3/person0-seed0.json: scenario: 'faceworld-quick'"):
        compare(tmp_path / "faceworld-quick", board)


def test_compare_command(dirs, capsys):
    mine, board = dirs
    assert main(["compare", str(mine), "--against", str(board), "--format", "json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["test"].startswith("two-sided paired t-test") and payload["correction"].startswith("Holm")
    assert [(r["K"], r["rank"], r["of"]) for r in payload["ranks"]] == [(3, 1, 3), (5, 3, 3)]
    comparison = compare(mine, board)
    console = Console(file=io.StringIO(), width=250, record=True)
    for table in tables.comparison_tables(comparison):
        console.print(table)
    text = console.export_text()
    assert "er-new would rank 1 of 3 at K=3" in text and "er-new would rank 3 of 3 at K=5" in text
    assert "3/3 persons, seeds {0}; full coverage" in text
    assert "p_adj" in text and "paired t-test, Holm over 4 tests" in text
    # far better than every board row at K=3, far worse at K=5 (3 pairs each, the board's 3 persons)
    assert _verdicts(text, "er-hull") == ["better", "worse"] and _verdicts(text, "er-rand") == ["better", "worse"]


def _verdicts(text: str, baseline: str) -> list[str]:
    """The last word of each line of ``text`` that starts with ``baseline``."""
    return [line.split()[-1] for line in text.splitlines() if line.split()[:1] == [baseline]]


def test_a_baseline_without_common_person_and_seed_is_listed_without_numbers(tmp_path, dirs):
    _, board = dirs
    fake_results.write_board(tmp_path, NEW, persons=("0",), seeds=(9,), scenario=SCENARIO)
    comparison = compare(tmp_path / SCENARIO, board)
    assert comparison.differences["n"].eq(0).all() and comparison.differences["difference"].isna().all()
    assert set(comparison.differences["baseline"]) == {"naive", "joint", "er-rand", "er-hull"}
    console = Console(file=io.StringIO(), width=250, record=True)
    console.print(*tables.comparison_tables(comparison))
    text = console.export_text()
    assert "1/3 persons, seeds {9}; provisional" in text and "not ranked: it shares no (person, seed) pair" in text
    assert [line.split()[1:] for line in text.splitlines() if line.split()[:1] == ["er-hull"]] == [
        ["3", "0", "—", "—", "—", "no", "shared", "pairs"]]  # K, n, difference, MDE, p_adj, verdict


# A new method on 2 of the 5 persons of a board whose er-hull ran two seeds. ---------------------

PERSONS = ("0", "1", "2", "3", "4")
BOARD5 = {"naive": ([None], 0.0, 3.0), "er-rand": ([3], 1.0, 1.5), "er-hull": ([3], 1.5, 1.0)}
LONG = "ewc decay_factor=1.0 ewc_lambda=100000.0"  # a method's name as long as the board's longest


@pytest.fixture(scope="module")
def partial(tmp_path_factory):
    """(mine, board): the board: naive, er-rand and er-hull at K=3 and a long-named ewc, persons
    0-4, seed 0, and er-hull seed 1 too; mine: er-new at K=3, persons 0 and 1, seed 0, far better
    than every board row."""
    board, mine = tmp_path_factory.mktemp("board5"), tmp_path_factory.mktemp("mine2")
    fake_results.write_board(board, BOARD5, persons=PERSONS, scenario=SCENARIO)
    fake_results.write_board(board, {"er-hull": ([3], 1.5, 1.0)}, persons=PERSONS, seeds=(1,), scenario=SCENARIO)
    for person in PERSONS:
        fake_results.write(fake_results.with_params(
            fake_results.result("ewc", None, person, 0, SCENARIO, 1.0, 0.5), decay_factor=1.0, ewc_lambda=100000.0),
            board)
    fake_results.write_board(mine, NEW, persons=("0", "1"), scenario=SCENARIO)
    return mine / SCENARIO, board / SCENARIO


def _primary(folder, persons, seeds=(0,)):
    return np.array([10 * json.loads((folder / f"person{p}-seed{s}.json").read_text())
                     ["scores"]["recon_perceptual"]["aip"] for p in persons for s in seeds])


def test_a_new_method_on_2_of_5_persons_is_provisional_and_cannot_be_told_apart(partial):
    mine, board = partial
    comparison = compare(mine, board)
    assert (comparison.grid.persons, comparison.grid.seeds) == (PERSONS, (0,))  # seed 1: er-hull's only
    ranks = comparison.ranks.iloc[0]
    assert ranks["coverage"] == "2/5 persons, seeds {0}" and ranks["provisional"]
    assert (ranks["pairs"], ranks["persons"], ranks["seeds"]) == (2, ["0", "1"], [0])
    primary = comparison.differences[comparison.differences["primary"]]
    assert set(primary["baseline"]) == {"naive", "er-rand", "er-hull", LONG}
    assert primary["n"].eq(2).all() and primary["p"].isna().all() and primary["p_adjusted"].isna().all()
    assert primary["verdict"].eq("cannot tell (n < 3)").all()
    assert primary["ci95"].notna().all()  # the interval is there, t(1) and wide; the p-value is not


def test_the_rank_compares_means_over_the_shared_pairs_only(partial):
    mine, board = partial
    ranks = compare(mine, board).ranks.iloc[0]
    new, hull = _primary(mine / "er-new-k3", "01"), _primary(board / "er-hull-k3", "01")
    assert (ranks["rank"], ranks["of"], ranks["left_out"]) == (1, 3, 0)
    assert ranks["recon_perceptual_aip_x10"] == pytest.approx(new.mean())
    # er-hull's mean over persons 0 and 1 of seed 0, not its board mean over 5 persons x 2 seeds
    assert ranks["best"] == "er-hull" and ranks["best_recon_perceptual_aip_x10"] == pytest.approx(hull.mean())
    board_mean = _primary(board / "er-hull-k3", PERSONS, (0, 1)).mean()
    assert ranks["best_recon_perceptual_aip_x10"] != pytest.approx(board_mean)


def test_the_text_says_coverage_and_verdict_and_fits_80_columns(partial):
    comparison = compare(*partial)
    blocks = tables.comparison_text(comparison, width=80, all_columns=True)
    text = "\n".join(blocks)
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80
    flat = " ".join(text.split())
    assert "er-new, K=3: 2/5 persons, seeds {0}; provisional (the board's grid: 5 persons × seeds {0})" in flat
    assert "er-new would rank 1 of 3 at K=3 by rec. perceptual AIP ×10 ↓ over the 2 (person, seed) pairs" in flat
    assert "every row's mean over those pairs only" in flat
    # one line per (baseline, column), its numbers whole on it: the long name has a line of its own
    shown = comparison.differences
    numbers = [line for line in lines if " ± " in line and "CI" not in line]
    assert len(numbers) == len(shown)
    pattern = re.compile(
        r"\s+(?:\S.*?\s{2,})?(-|\d+)\s+2\s+[+-]\d+\.\d+ ± +\d+\.\d+\s+\d+\.\d+\s+—\s+cannot tell \(n < 3\)")
    assert all(pattern.fullmatch(line) for line in numbers), numbers
    assert f"  {LONG}" in lines and sum("(exploratory)" in line for line in lines) == len(ag.COLUMNS) - 1
    assert "(exploratory)" not in "\n".join(tables.comparison_text(comparison, width=80))


def test_the_command_prints_80_columns_and_json_with_all(partial, capsys, monkeypatch):
    mine, board = partial
    monkeypatch.setattr("facebench.cli.console", Console(width=80))
    assert main(["compare", str(mine), "--against", str(board)]) == 0
    out = capsys.readouterr().out
    assert max(map(len, out.splitlines())) <= 80 and "cannot tell (n < 3)" in out and "exploratory" not in out
    assert main(["compare", str(mine), "--against", str(board), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["columns"] == ["recon_perceptual_aip_x10"] and payload["grid"] == {"persons": list(PERSONS),
                                                                                      "seeds": [0]}
    assert {d["column"] for d in payload["differences"]} == {"recon_perceptual_aip_x10"}
    assert all(d["p"] is None and d["verdict"] == "cannot tell (n < 3)" for d in payload["differences"])
    assert payload["ranks"][0]["coverage"] == "2/5 persons, seeds {0}" and payload["ranks"][0]["provisional"]
    assert main(["compare", str(mine), "--against", str(board), "--json", "--all"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert {d["column"] for d in payload["differences"]} == {ag.column(s, m) for s, m in ag.COLUMNS}


# The statistics. -------------------------------------------------------------------------------

def test_holm_adjusts_as_by_hand():
    # sorted: 0.005, 0.01, 0.03, 0.04 (m = 4; NaN is no test); times 4, 3, 2, 1: 0.02, 0.03, 0.06, 0.04;
    # running maximum: 0.02, 0.03, 0.06, 0.06
    adjusted = ag.holm([0.01, 0.04, 0.03, np.nan, 0.005])
    np.testing.assert_allclose(adjusted, [0.03, 0.06, 0.06, np.nan, 0.02])
    np.testing.assert_allclose(ag.holm([0.5, 0.9]), [1.0, 1.0])  # capped at 1
    assert ag.holm([]).shape == (0,)


def test_the_p_values_of_a_family_are_holm_adjusted(dirs):
    differences = compare(*dirs).differences
    family = differences[(differences["K"] == 3) & differences["primary"]]
    assert len(family) == 4 and family["n"].eq(3).all()
    p = family["p"].to_numpy()
    order = np.argsort(p)
    by_hand = np.empty(4)
    running = 0.0
    for step, index in enumerate(order):
        running = max(running, (4 - step) * p[index])
        by_hand[index] = min(1.0, running)
    np.testing.assert_allclose(family["p_adjusted"], by_hand)
    assert (family["p_adjusted"] >= family["p"]).all()


def test_verdicts_follow_the_columns_direction_and_the_number_of_pairs():
    assert ag.verdict(5, -0.2, 0.01, lower_is_better=True) == "better"
    assert ag.verdict(5, -0.2, 0.01, lower_is_better=False) == "worse"
    assert ag.verdict(5, 0.2, 0.01, lower_is_better=False) == "better"
    assert ag.verdict(5, -0.2, 0.05, lower_is_better=True) == "cannot tell"  # p_adj not below 0.05
    assert ag.verdict(2, -0.2, np.nan, lower_is_better=True) == "cannot tell (n < 3)"
    assert ag.verdict(0, np.nan, np.nan, lower_is_better=True) == "no shared pairs"
    difference, half, p, sd = ag.paired(np.array([1.0, 2.0]), np.array([0.0, 0.5]))
    assert difference == 1.25 and np.isfinite(half) and np.isnan(p)  # 2 pairs: an interval, no test
    assert sd == pytest.approx(np.std([1.0, 1.5], ddof=1))
