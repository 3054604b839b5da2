"""What a board can tell apart: the families of each K, Holm's correction, the letters of tied
rows, the minimum detectable effect and its inverse, the Friedman test and the
critical-difference diagram, and compare's sentence for a new row with too few runs."""

import io
import itertools
import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from rich.console import Console
from scipy import stats
from statsmodels.stats.multitest import multipletests

import fake_results
from facebench.board import aggregate as ag
from facebench.board import load as lb
from facebench.board import plots, ranking
from facebench.board import render as tables
from facebench.board.compare import compare
from facebench.board.load import Board

SCENARIO = "faceworld"
PERSONS = ("0", "1", "2", "3", "4")
PRIMARY = ag.column(*ag.PRIMARY)
TIEBREAK = ag.column(*ag.TIEBREAK)


def memory_board(rows: dict) -> tuple[Board, pd.DataFrame]:
    """A board in memory and its ranked table: ``rows`` maps (method, K) to the primary score of
    each person, seed 0, in print scale (NaN: no run of that person, a provisional row)."""
    runs = [{"method": method, "strategy": method, "K": k, "person": person, "seed": 0,
             "recon_perceptual.aip": value / 10, "recon_perceptual.forgetting": 0.0}
            for (method, k), values in rows.items() for person, value in zip(PERSONS, values) if np.isfinite(value)]
    runs = pd.DataFrame(runs).astype({"K": "Int64"})
    table = [{"K": k, "method": method, "n": int(np.isfinite(values).sum()),
              "provisional": not np.isfinite(values).all(), PRIMARY: np.nanmean(values), TIEBREAK: 0.0}
             for (method, k), values in rows.items()]
    table = ag.rank(pd.DataFrame(table).astype({"K": "Int64"}))
    return Board(SCENARIO, "0" * 64, runs, (), 0, len(runs)), table


BASE = np.array([2.0, 2.3, 1.9, 2.6, 2.2])  # persons differ: some are easier
WOBBLE = np.array([0.05, -0.05, 0.05, -0.05, 0.0])  # mean 0: no difference at all, t = 0
SEPARATED = {
    ("best", 3): BASE - 1.0 + np.array([0.01, -0.01, 0.0, 0.02, -0.02]),
    ("twin-a", 3): BASE,
    ("twin-b", 3): BASE + WOBBLE,
    ("late", 3): np.array([1.0, 1.2, np.nan, np.nan, np.nan]),  # 2 of 5 persons: provisional
    ("naive", None): BASE + 0.5 + np.array([0.01, -0.01, 0.02, 0.0, -0.02]),
    ("joint", None): BASE - 0.2,
}


def test_a_clearly_better_row_gets_a_letter_of_its_own_and_two_indistinguishable_rows_share_one():
    board, table = memory_board(SEPARATED)
    groups = ranking.tied_groups(board, table)
    assert groups.index.equals(table.index)
    assert dict(zip(zip(table["K"].map(ag.k_label), table["method"]), groups)) == {
        ("-", "joint"): "a", ("-", "naive"): "b",
        ("3", "best"): "a", ("3", "twin-a"): "b", ("3", "twin-b"): "b", ("3", "late"): ""}
    shown = ranking.with_groups(board, table)
    assert list(shown.columns[:4]) == ["K", "rank", "method", "group"] and shown["group"].tolist() == groups.tolist()
    at3 = {f.k: f for f in ranking.families(board, table)}["3"]
    assert at3.methods == ("best", "twin-a", "twin-b")  # the provisional row is in no family
    assert at3.pairs == tuple((p, 0) for p in PERSONS)
    twins = at3.comparisons[(at3.comparisons["a"] == "twin-a") & (at3.comparisons["b"] == "twin-b")].iloc[0]
    assert twins["difference"] == pytest.approx(0.0, abs=1e-12) and twins["verdict"] == "cannot tell"
    assert set(at3.comparisons.loc[at3.comparisons["a"] == "best", "verdict"]) == {"better"}


def test_a_row_between_two_others_carries_both_letters():
    # b - a: +0.5 on average, but it swings by 1 from person to person; c - a: a steady +1
    a = BASE
    board, table = memory_board({("a", 3): a, ("b", 3): a + 0.5 + np.array([1, -1, 1, -1, 0]),
                                 ("c", 3): a + 1.0 + np.array([0.0, 0.01, -0.01, 0.0, 0.0])})
    assert ranking.tied_groups(board, table).tolist() == ["a", "ab", "b"]


def test_holm_over_a_family_is_statsmodels_holm():
    board, table = memory_board(SEPARATED)
    for family in ranking.families(board, table):
        p = family.comparisons["p"].to_numpy(float)
        np.testing.assert_allclose(family.comparisons["p_adjusted"], multipletests(p, method="holm")[1])
        assert (family.comparisons["level"] == ag.ALPHA / len(p)).all()
    p = np.array([0.01, 0.04, np.nan, 0.03, 0.005])
    adjusted = ag.holm(p)
    assert np.isnan(adjusted[2])
    np.testing.assert_allclose(adjusted[[0, 1, 3, 4]], multipletests(p[[0, 1, 3, 4]], method="holm")[1])
    rng = np.random.default_rng(0)
    for m in rng.integers(1, 30, 10):  # ties included: p rounded to two places (each call runs gc.collect)
        p = np.round(rng.uniform(0, 0.2, m), 2)
        np.testing.assert_allclose(ag.holm(p), multipletests(p, method="holm")[1])


def _power(delta: float, n: int, sd: float, alpha: float) -> float:
    """The two-sided paired t-test's power to find a true difference delta > 0, by hand: the
    noncentral t(n - 1, delta / sd * sqrt(n)) above t(1 - alpha / 2, n - 1)."""
    df, nc = n - 1, delta / sd * np.sqrt(n)
    return stats.nct.sf(stats.t.ppf(1 - alpha / 2, df), df, nc)


def test_the_minimum_detectable_effect_shrinks_with_n_and_is_detected_with_80_percent_power():
    sd, alpha = 0.12, 0.05 / 21
    mdes = [ranking.mde(n, sd, alpha) for n in range(2, 41)]
    assert all(a > b for a, b in itertools.pairwise(mdes))
    for n in (2, 3, 5, 20, 1000):
        assert _power(ranking.mde(n, sd, alpha), n, sd, alpha) == pytest.approx(0.8, abs=1e-9)
    assert ranking.mde(2, sd, 0.05 / 105) > 1000 * sd  # t(1) at 0.0005 is far out: statsmodels' solver gives 10
    assert ranking.mde(5, 2 * sd, alpha) == pytest.approx(2 * ranking.mde(5, sd, alpha))  # in units of the sd
    assert ranking.mde(5, sd) < ranking.mde(5, sd, alpha)  # a stricter level needs a larger difference
    assert np.isnan(ranking.mde(1, sd)) and np.isnan(ranking.mde(5, 0.0)) and np.isnan(ranking.mde(5, np.nan))


@pytest.mark.parametrize("effect, sd, alpha", [(0.05, 0.12, 0.05 / 21), (0.05, 0.3, 0.05 / 6), (0.2, 0.1, 0.05),
                                               (0.011, 0.01, 0.05)])
def test_pairs_needed_is_the_fewest_pairs_whose_mde_is_the_effect(effect, sd, alpha):
    n = ranking.pairs_needed(effect, sd, alpha)
    assert ranking.mde(n, sd, alpha) <= effect < ranking.mde(n - 1, sd, alpha)
    assert _power(effect, n, sd, alpha) >= 0.8 > _power(effect, n - 1, sd, alpha)


def test_pairs_needed_is_at_least_the_fewest_a_test_runs_on():
    assert ranking.pairs_needed(5.0, 0.1) == ag.MIN_PAIRS
    with pytest.raises(ValueError):
        ranking.pairs_needed(0.05, 0.0)


def test_the_friedman_test_is_scipys_over_persons_with_average_ranks():
    board, table = memory_board(SEPARATED)
    test = {f.k: f for f in ranking.families(board, table)}["3"].friedman
    columns = [SEPARATED[(m, 3)] for m in ("best", "twin-a", "twin-b")]
    expected = stats.friedmanchisquare(*columns)
    assert (test.persons, test.rows, test.reason) == (5, 3, "")
    assert test.statistic == pytest.approx(expected.statistic) and test.p == pytest.approx(expected.pvalue)
    assert test.ranks.to_dict() == pytest.approx({"best": 1.0, "twin-a": 2.5, "twin-b": 2.5})  # 2 and 3, or tied
    assert str(test) == f"Friedman χ² = {expected.statistic:.2f}, p = {expected.pvalue:.3f} over 5 persons and 3 rows"
    assert test.cd == pytest.approx(stats.studentized_range.ppf(0.95, 3, np.inf) / np.sqrt(2) * np.sqrt(3 * 4 / 30))


def test_friedman_with_fewer_than_3_rows_or_2_persons_says_so_and_draws_nothing():
    two = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [2.0, 3.0, 4.0]})
    test = ranking.friedman(two, lower_is_better=True)
    assert str(test) == "no Friedman test: 2 rows (it needs at least 3)"
    assert np.isnan(test.p) and test.nemenyi is None
    one_person = ranking.friedman(pd.DataFrame({"a": [1.0], "b": [2.0], "c": [3.0]}), lower_is_better=True)
    assert str(one_person) == "no Friedman test: 1 person (it needs at least 2)"
    board, table = memory_board({key: value for key, value in SEPARATED.items() if key[1] is None})
    assert [f.friedman.reason for f in ranking.families(board, table)] == ["2 rows (it needs at least 3)"]


LONG = ("ewc decay_factor=1.0 ewc_lambda=100000.0", "lora-er-hull alpha=16.0 rank=4",
        "distill mix=3 samples=2 weight=1.0", "er-hull", "a", "kmeans", "reservoir", "latent-replay")


def test_the_cd_diagram_is_a_png_whose_labels_neither_collide_nor_leave_the_figure(tmp_path):
    rng = np.random.default_rng(3)
    board, table = memory_board({(name, 3): BASE + i / 10 + rng.normal(0, 0.1, 5) for i, name in enumerate(LONG)})
    family = ranking.families(board, table)[0]
    figure = plots.critical_difference(family)
    figure.savefig(tmp_path / plots.cd_file("3"), dpi=80)
    assert plots.cd_file("3") == "cd_k3.png" and plots.cd_file("-") == "cd_no_buffer.png"
    with Image.open(tmp_path / "cd_k3.png") as image:
        assert image.format == "PNG" and image.width > 300 and image.height > 150
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    texts = figure.axes[0].texts
    assert sorted(t.get_text().split(") ")[-1].split(" (")[0] for t in texts) == sorted(LONG)
    boxes = [t.get_window_extent(renderer) for t in texts] + [figure._suptitle.get_window_extent(renderer)]
    boxes += [label.get_window_extent(renderer) for label in figure.axes[0].get_xticklabels()]
    assert not any(a.overlaps(b) for a, b in itertools.combinations(boxes, 2))
    assert all(figure.bbox.x0 <= b.x0 and b.x1 <= figure.bbox.x1 and figure.bbox.y0 <= b.y0 and b.y1 <= figure.bbox.y1
               for b in boxes)
    assert "Friedman χ² =" in figure._suptitle.get_text() and "5 persons" in figure._suptitle.get_text()
    elbows = {tuple(line.get_color()) for line in figure.axes[0].get_lines() if line.get_color() != "k"}
    assert elbows == {plots.style(name)[0] for name in LONG}  # each method's own colour


# On result files: the board's files and compare. ---------------------------------------------

@pytest.fixture(scope="module")
def board_dir(tmp_path_factory):
    """naive, joint; er-rand, er-hull and reservoir at K = 3; er-rand and er-hull at K = 5; persons 0-2, seed 0."""
    out = tmp_path_factory.mktemp("board")
    fake_results.write_board(out, {**fake_results.BOARD, "reservoir": ([3], 0.5, 2.0)}, scenario=SCENARIO)
    return out / SCENARIO


def test_the_board_writes_a_cd_diagram_per_k_with_a_friedman_test_and_says_what_it_can_tell_apart(board_dir, tmp_path):
    board = lb.load(board_dir)
    table = ag.aggregate(board)
    written = tables.write_board(board, table, tmp_path)
    assert tmp_path / "plots" / "cd_k3.png" in written
    assert not (tmp_path / "plots" / "cd_k5.png").exists() and not (tmp_path / "plots" / "cd_no_buffer.png").exists()
    with Image.open(tmp_path / "plots" / "cd_k3.png") as image:
        image.verify()
    page = (tmp_path / "LEADERBOARD.md").read_text()
    assert "| K | rank | method | group | n |" in page
    groups = ranking.tied_groups(board, table)
    best = table.iloc[2]
    assert best["method"] == "er-hull" and f"| 3 | 1 | er-hull | {groups.iloc[2]} | 3 |" in page
    assert "## What this board can tell apart" in page and "### K = 3" in page and "### Without a buffer" in page
    assert "3 rows over 3 (person, seed) pairs (persons 0, 1, 2; seed 0); Holm over m = 3 tests" in page
    assert "| a | b | a − b | p_adj | verdict | MDE | n |" in page
    assert "no Friedman test: 2 rows (it needs at least 3)." in page
    assert "![critical-difference diagram at K = 3](plots/cd_k3.png)" in page
    console = Console(file=io.StringIO(), width=250, record=True)
    console.print(tables.rich_table(board, table))
    assert [line.split()[:4] for line in console.export_text().splitlines() if line.split()[:1] == ["-"]] == [
        ["-", "1", "joint", groups.iloc[0]], ["-", "2", "naive", groups.iloc[1]]]


def test_compare_says_plainly_when_two_pairs_are_too_few_to_decide(board_dir, tmp_path):
    fake_results.write_board(tmp_path, {"er-new": ([3], 4.0, 0.2)}, persons=("0", "1"), scenario=SCENARIO)
    comparison = compare(tmp_path / SCENARIO, board_dir)
    primary = comparison.differences[comparison.differences["primary"]]
    assert primary["n"].eq(2).all() and primary["mde"].gt(0).all() and primary["level"].eq(0.05 / 5).all()
    for _, row in primary.iterrows():
        assert row["mde"] == pytest.approx(ranking.mde(2, row["sd"], 0.05 / 5))
    text = " ".join("\n".join(tables.comparison_text(comparison, width=80)).split())
    low, high = sorted(primary["mde"])[0], sorted(primary["mde"])[-1]
    places = tables.decimals([low, high])
    needed = sorted(ranking.pairs_needed(0.05, sd, 0.05 / 5) for sd in primary["sd"])
    pairs = str(needed[0]) if needed[0] == needed[-1] else f"{needed[0]} to {needed[-1]}"
    assert (f"Too few runs to decide: n = 2 pairs; at n = 2 the smallest detectable difference is {low:.{places}f} "
            f"to {high:.{places}f} (×10) against 5 baselines (80% power, level 0.01); about {pairs} pairs would "
            "detect 0.05 (×10).") in text
    assert max(map(len, "\n".join(tables.comparison_text(comparison, width=80)).splitlines())) <= 80
    payload = json.loads(tables.comparison_json(comparison))
    assert payload["ranks"][0]["too_few"].startswith("too few runs to decide: n = 2 pairs; at n = 2")
    assert all(d["mde"] > 0 for d in payload["differences"])
    full = compare(board_dir, board_dir)  # every row against the board, on its 3 pairs: tests run
    assert all(rank["too_few"] is None for rank in json.loads(tables.comparison_json(full))["ranks"])
