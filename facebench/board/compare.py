"""A new method's results against a board: where it would rank, and how it differs from each baseline.

Everything is computed over the (person, seed) pairs the new row shares with the board, never
over its own pairs against the board's: a new method run on persons 0 and 1 (the easiest, say)
is compared with the baselines on persons 0 and 1. The statistics are those of
:mod:`facebench.board.aggregate` (its docstring says which test, which correction and what
"cannot tell" means); they are not repeated here.

Rows. A new row and a board row are one method when their method names are equal
(:attr:`facebench.board.load.Board.runs`: the parameters that differ from the defaults each file
records), so that a new run that records a default pairs with a board run that does not.

Coverage. Each new row, (method, K), is measured against the board's grid
(:func:`facebench.board.aggregate.grid`): "2/5 persons, seeds {0}", provisional when it lacks a
pair of the grid.

Rank. The new row is ranked among the board's rows of the same K by the board's rule
(:func:`facebench.board.aggregate.rank`), every row's mean taken over the same pairs: those the
new row has and every full-coverage board row of that K has (where that K has none, the new
row's). A board row that lacks one of them is left out of the ranking (counted in
``left_out``). "rank r of N" counts the new row; the mean of a row there is not its board mean.

Differences. Against every board row of the same K and every board row without a buffer (naive,
joint, ...: the references of every K), for each board column: the runs of both paired by
(person, seed), pairs missing on either side or without the summary left out, n the pairs
that remain; d = new - baseline in print scale; its mean, 95% interval and paired t-test p
(:func:`facebench.board.aggregate.paired`; no p under 3 pairs) and the sd of d; then, over the
family of one new row's baselines in one column (:func:`facebench.board.ranking.judged`):
``p_adjusted`` (Holm), the verdict, ``level`` (alpha / m, m the family's comparisons with a
spread to test) and ``mde``, the smallest true difference the test detects with 80% power at that level
(:func:`facebench.board.ranking.mde`). The verdict that counts is that of the primary column
(:data:`facebench.board.aggregate.PRIMARY`); the other columns' are exploratory. No pair at all
(n = 0): no difference either.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from facebench.board.aggregate import (
    COLUMNS, PRIMARY, Grid, aggregate, better_is_lower, column, coverage, grid, k_label, pairs_of, paired,
    person_key, rank, scaled,
)
from facebench.board.load import Board, LeaderboardError, load
from facebench.board.ranking import judged

NEW = "\0new"  # the new row's name while it is ranked among the board's rows: unlike any method's


@dataclass(frozen=True)
class Comparison:
    """``grid``: the board's (person, seed) grid. ``ranks``: one row per new (method, K): K,
    method, n (its runs), coverage (text) and provisional (against the grid), pairs (how many
    it shares with the rows it is ranked among), persons and seeds (of those pairs), rank, of
    (rows ranked, the new one included; both NA where it shares no pair), left_out (board rows
    of that K without those pairs), the primary column's mean and interval over those pairs,
    and the best board row there (``best``, ``best_<primary>``). ``differences``: one row per
    (new row, baseline row, column): K, method, baseline, baseline_K, column, primary (is it
    the primary column), n (pairs), difference, ci95 (half-width), p (paired t-test), sd (of
    the paired differences), p_adjusted (Holm), verdict, level (Holm's first level, alpha / m)
    and mde (minimum detectable effect at 80% power, print scale)."""

    mine: Board
    board: Board
    grid: Grid
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
    board_grid = grid(board.runs)
    ranks, differences = [], []
    for _, row in mine_table.iterrows():
        mine_runs = _runs_of(new, row)
        ranks.append(_rank(row, mine_runs, board, board_table, board_grid))
        baselines = board_table[_same_k(board_table["K"], row["K"]) | board_table["K"].isna()]
        for _, base in baselines.iterrows():
            differences += _differences(row, mine_runs, base, _runs_of(board, base))
    ranks = pd.DataFrame(ranks).astype({"K": "Int64", "rank": "Int64", "of": "Int64"})
    differences = _judged(pd.DataFrame(differences, columns=DIFFERENCE_COLUMNS))
    return Comparison(new, board, board_grid, ranks, differences)


DIFFERENCE_COLUMNS = ["K", "method", "baseline", "baseline_K", "column", "primary", "n", "difference", "ci95", "p",
                      "sd"]


def _same_k(ks: pd.Series, k) -> pd.Series:
    return ks.map(k_label) == k_label(k)


def _runs_of(board: Board, row) -> pd.DataFrame:
    runs = board.runs
    runs = runs[(runs["method"] == row["method"]) & _same_k(runs["K"], row["K"])]
    return runs.assign(person=runs["person"].astype(str), seed=runs["seed"].astype(int)).set_index(["person", "seed"])


def _rank(row, mine_runs: pd.DataFrame, board: Board, board_table: pd.DataFrame, board_grid: Grid) -> dict:
    """The new row's coverage and its rank among the board's rows of its K over the pairs they share."""
    primary = column(*PRIMARY)
    mine_pairs = set(mine_runs.index)
    covered = coverage(mine_pairs, board_grid)
    peers = board_table[_same_k(board_table["K"], row["K"])]
    runs = board.runs[_same_k(board.runs["K"], row["K"])]
    peer_pairs = {method: pairs_of(group) for method, group in runs.groupby("method")}
    full = [peer_pairs[m] for m in peers.loc[~peers["provisional"], "method"]]
    common = set.intersection(*full) if full else mine_pairs
    shared = mine_pairs & common
    ranked_peers = [m for m in peers["method"] if shared and shared <= peer_pairs[m]]
    out = {"K": row["K"], "method": row["method"], "n": int(row["n"]), "coverage": str(covered),
           "provisional": covered.provisional, "pairs": len(shared),
           "persons": sorted({p for p, _ in shared}, key=person_key), "seeds": sorted({s for _, s in shared}),
           "rank": None, "of": None, "left_out": len(peers) - len(ranked_peers),
           primary: np.nan, primary + "_ci95": np.nan, "best": None, "best_" + primary: np.nan}
    if not shared:
        return out

    def on_shared(frame: pd.DataFrame) -> pd.DataFrame:
        keys = pd.MultiIndex.from_arrays([frame["person"].astype(str), frame["seed"].astype(int)])
        return frame[keys.isin(list(shared))]

    peers_runs = on_shared(runs[runs["method"].isin(ranked_peers)])
    new_runs = on_shared(mine_runs.reset_index()).assign(method=NEW)
    subset = aggregate(replace(board, runs=pd.concat([peers_runs, new_runs], ignore_index=True)))
    ranked = rank(subset.assign(provisional=False))  # every row has exactly the shared pairs
    me = ranked[ranked["method"] == NEW].iloc[0]
    others = ranked[ranked["method"] != NEW]
    out.update({"rank": int(me["rank"]), "of": len(ranked),
                primary: me[primary], primary + "_ci95": me[primary + "_ci95"]})
    if len(others):
        out.update({"best": others["method"].iloc[0], "best_" + primary: others[primary].iloc[0]})
    return out


def _differences(row, mine: pd.DataFrame, base_row, base: pd.DataFrame) -> list[dict]:
    pairs = mine.index.intersection(base.index)
    out = []
    for score, summary in COLUMNS:
        a = scaled(mine.loc[pairs], score, summary).to_numpy(float)
        b = scaled(base.loc[pairs], score, summary).to_numpy(float)
        keep = np.isfinite(a) & np.isfinite(b)
        if len(pairs) and not keep.any():
            continue  # a summary one side does not have, like a joint model's forgetting
        out.append({"K": row["K"], "method": row["method"], "baseline": base_row["method"],
                    "baseline_K": base_row["K"], "column": column(score, summary),
                    "primary": (score, summary) == PRIMARY, "n": int(keep.sum()),
                    **paired(a[keep], b[keep])._asdict()})
    return out


def _judged(differences: pd.DataFrame) -> pd.DataFrame:
    """``differences`` judged family by family, one new row and column each
    (:func:`facebench.board.ranking.judged`: p_adjusted, verdict, level, mde)."""
    differences = differences.astype({"K": "Int64", "baseline_K": "Int64", "n": int, "primary": bool})
    lower = {column(s, m): better_is_lower(s, m) for s, m in COLUMNS}
    families = [judged(family, lower[name]) for (_, _, name), family in
                differences.groupby([differences["K"].map(k_label), "method", "column"], sort=False)]
    judged_columns = ["p_adjusted", "verdict", "level", "mde"]
    if not families:
        return differences.assign(**{name: pd.Series(dtype=float) for name in judged_columns})
    return pd.concat(families).loc[differences.index]
