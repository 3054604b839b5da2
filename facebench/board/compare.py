"""A new method's results against a board: where it would rank, and how far from each baseline.

Rank. Each row of the new results, (method, K), is ranked among the board's rows of the same K
by the board's own rule (:func:`facebench.board.aggregate.rank`): "rank r of N" counts the new row.

Differences. Against every board row of the same K and every board row without a buffer (naive,
joint, ...: the references of every K), for each board column: the runs of both are paired by
(person, seed) (pairs missing on either side are left out; n says how many remain), d = new -
baseline in print scale, the mean of d with its 95% Student-t confidence interval, and the
two-sided p-value of the paired t-test (``scipy.stats.ttest_rel``, the same t distribution as
the interval). Why a t-test and not Wilcoxon's signed-rank test: with the 5 persons of one seed,
the smallest two-sided p Wilcoxon can give is 2/32 = 0.0625, so it could never find a
difference. The t-test assumes the paired differences are roughly normal. Fewer than 2 pairs,
or differences that are all equal: no interval and no test (NaN); no pair at all (n = 0): no
difference either.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from facebench.board.aggregate import COLUMNS, CONFIDENCE, PRIMARY, aggregate, column, k_label, rank, scaled
from facebench.board.load import Board, LeaderboardError, load

NEW = "\0new"  # the new row's name while it is ranked among the board's rows: unlike any method's


@dataclass(frozen=True)
class Comparison:
    """``ranks``: one row per new (method, K): K, method, rank, of (rows at that K, the new one
    included), and the primary column's mean and interval. ``differences``: one row per (new
    row, baseline row, column): K, method, baseline, baseline_K, column, n (pairs), difference,
    ci95 (half-width), p (paired t-test)."""

    mine: Board
    board: Board
    ranks: pd.DataFrame
    differences: pd.DataFrame


def compare(mine: str | Path, against: str | Path) -> Comparison:
    """Compare the result files under ``mine`` with the board under ``against``."""
    new, board = load(mine), load(against)
    if (new.scenario, new.card_sha256) != (board.scenario, board.card_sha256):
        raise LeaderboardError(
            f"{new.runs['path'].iloc[0]}: scenario: '{new.scenario}' (card {new.card_sha256[:12]}) is not the "
            f"board's '{board.scenario}' (card {board.card_sha256[:12]}) of {against}")
    mine_table, board_table = aggregate(new), aggregate(board)
    primary = column(*PRIMARY)
    ranks, differences = [], []
    for index, row in mine_table.iterrows():
        peers = board_table[_same_k(board_table["K"], row["K"])]
        ranked = rank(pd.concat([peers, mine_table.loc[[index]].assign(method=NEW)]))
        place = int(ranked.loc[ranked["method"] == NEW, "rank"].iloc[0])
        ranks.append({"K": row["K"], "method": row["method"], "rank": place, "of": len(ranked),
                      primary: row[primary], primary + "_ci95": row[primary + "_ci95"]})
        mine_runs = _runs_of(new, row)
        baselines = board_table[_same_k(board_table["K"], row["K"]) | board_table["K"].isna()]
        for _, base in baselines.iterrows():
            differences += _differences(row, mine_runs, base, _runs_of(board, base))
    ranks = pd.DataFrame(ranks).astype({"K": "Int64"})
    differences = pd.DataFrame(differences).astype({"K": "Int64", "baseline_K": "Int64"})
    return Comparison(new, board, ranks, differences)


def _same_k(ks: pd.Series, k) -> pd.Series:
    return ks.map(k_label) == k_label(k)


def _runs_of(board: Board, row) -> pd.DataFrame:
    runs = board.runs
    return runs[(runs["method"] == row["method"]) & _same_k(runs["K"], row["K"])].set_index(["person", "seed"])


def _differences(row, mine: pd.DataFrame, base_row, base: pd.DataFrame) -> list[dict]:
    pairs = mine.index.intersection(base.index)
    out = []
    for score, summary in COLUMNS:
        a = scaled(mine.loc[pairs], score, summary).to_numpy(float)
        b = scaled(base.loc[pairs], score, summary).to_numpy(float)
        keep = np.isfinite(a) & np.isfinite(b)
        if len(pairs) and not keep.any():
            continue  # a summary one side does not have, like a joint model's forgetting
        difference, half, p = paired(a[keep], b[keep])
        out.append({"K": row["K"], "method": row["method"], "baseline": base_row["method"],
                    "baseline_K": base_row["K"], "column": column(score, summary), "n": int(keep.sum()),
                    "difference": difference, "ci95": half, "p": p})
    return out


def paired(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """Mean of a - b, half-width of its 95% t interval, and the two-sided paired t-test's p."""
    d = a - b
    if len(d) < 2 or np.ptp(d) == 0:
        return (float(d.mean()) if len(d) else math.nan), math.nan, math.nan
    result = stats.ttest_rel(a, b)
    low, high = result.confidence_interval(CONFIDENCE)
    return float(d.mean()), float((high - low) / 2), float(result.pvalue)
