"""What a board can tell apart: within each K, every two rows compared, the rows it cannot tell
apart as letters, the smallest difference it could have seen, and a Friedman test over persons.

Families. One per K of the table (:func:`facebench.board.aggregate.rank`'s sections; the rows
without a buffer, K "-", are one too): the full-coverage rows of that K, best first by the
table's rank. A provisional row is unranked and in no family. The rows without a buffer are a
family of their own, not members of every K's: a letter must be readable within the section of
the table it is shown in, and adding the 8 references of the committed board to the 7 rows of
K = 3 would take that family from 21 tests to 105, Holm's first level from 0.05/21 to 0.05/105.
A replay row against naive or joint is what ``facebench compare`` reports for a new row, and a
board's pre-registered tests (its PLAN.md) make their own families with :func:`compared` and
:func:`judged`.

Pairs. A family's rows are compared over the (person, seed) pairs that every one of them has,
with a finite :data:`facebench.board.aggregate.PRIMARY` score: the same n for every test of the
family (a row's runs beyond them, like a second seed only some rows ran, are left out here).

Tests. For each two rows a, b of a family, a ranked above b: d = a - b per pair in print scale,
its mean, 95% Student-t interval and two-sided paired t-test p
(:func:`facebench.board.aggregate.paired`), Holm's correction over the family's m = k(k - 1) / 2
tests (:func:`facebench.board.aggregate.holm`) and the verdict on a against b
(:func:`facebench.board.aggregate.verdict`): "better", "worse" or "cannot tell".

Groups (:func:`tied_groups`). A compact letter display of the Holm-adjusted p-values (Piepho
2004, ``scikit_posthocs.compact_letter_display``): letters a, b, c, ...; a row may carry
several; two rows share a letter exactly when the board cannot tell them apart (adjusted p not
below :data:`facebench.board.aggregate.ALPHA`, or no test: under
:data:`facebench.board.aggregate.MIN_PAIRS` pairs or no spread). The letters follow the rank:
the best row's first letter is a. Sharing a letter is no evidence that two rows are equal.

Power (:func:`power`, :func:`mde`, :func:`pairs_needed`). The minimum detectable effect of a
comparison: the smallest true mean difference |delta| (in the column's print scale) that the
two-sided paired t-test on n pairs detects with probability :data:`POWER`, where the
differences' standard deviation is the sd measured (ddof 1): delta = d_z * sd, d_z the
standardised effect at which the noncentral t(n - 1, d_z * sqrt(n)) exceeds the test's
critical value t(1 - alpha / 2, n - 1) with that probability
(``statsmodels.stats.power.TTestPower``; the root by ``scipy.optimize.brentq``, since
``TTestPower.solve_power`` answers a wrong effect without a warning where it is above 10, as
at n = 2 and alpha = 0.05/105). Its level is that of Holm's first step, alpha / m for a family
of m comparisons (:func:`level`): the strictest level Holm tests at (its later steps test at
alpha / (m - 1), ..., alpha), and a p below it is rejected whatever its step, so a true
difference of the MDE is found with probability at least :data:`POWER`. It is an estimate: the sd of a few pairs is itself uncertain. :func:`pairs_needed` is the inverse: the
fewest pairs (at least :data:`facebench.board.aggregate.MIN_PAIRS`) at which a difference
``effect`` is detected with that power, the sd as measured.

Friedman and Nemenyi (:func:`friedman`; Demšar 2006). Blocks are persons: each row's primary
score averaged over its own seeds of that person, on the persons every row of the family has;
within a person the rows are ranked 1 (best) to k, ties sharing the average rank; a row's
average rank is the mean over persons. Friedman's test (``scipy.stats.friedmanchisquare``,
chi-squared with k - 1 degrees of freedom) needs at least 3 rows and 2 persons. Only where it
rejects (p < alpha) does Nemenyi's post-hoc test (``scikit_posthocs.posthoc_nemenyi_friedman``)
tell rows apart; otherwise no pair is. Two rows differ when their average ranks are more than
the critical difference apart, CD = q(alpha, k) / sqrt(2) * sqrt(k (k + 1) / (6 N)), q the
studentized range's upper quantile for k groups and infinite degrees of freedom, N the persons.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import pandas as pd
import scikit_posthocs
from scipy import stats
from scipy.optimize import brentq
from statsmodels.stats.power import TTestPower

from facebench.board.aggregate import (
    ALPHA, MIN_PAIRS, PRIMARY, better_is_lower, holm, k_label, paired, person_key, scaled, verdict,
)
from facebench.board.load import Board

POWER = 0.8
"""The probability with which a minimum detectable effect is detected."""
SMALLEST_EFFECT = 0.05
"""The smallest difference of the primary column, in its print scale (×10), that a board must be
able to see (issue 16: ER-Hull against ER-Rand at K = 3): the effect ``facebench compare``
says how many pairs would detect."""

COMPARISON_COLUMNS = ["a", "b", "n", "difference", "ci95", "p", "sd"]


# Power. --------------------------------------------------------------------------------------

def level(m: int) -> float:
    """The level of Holm's first step in a family of ``m`` comparisons, alpha / m (alpha for m < 1)."""
    return ALPHA / max(m, 1)


def power(d_z: float, n: int, alpha: float = ALPHA) -> float:
    """The probability that the two-sided paired t-test on ``n`` pairs at level ``alpha`` rejects
    in the direction of a true standardised difference ``d_z`` >= 0 (mean over sd of the
    differences): that the noncentral t(n - 1, d_z sqrt(n)) exceeds t(1 - alpha / 2, n - 1)
    (``TTestPower``, one-sided at alpha / 2). The chance of a rejection in the wrong direction,
    below alpha / 2 and negligible at 80% power, is not counted: it detects nothing. scipy's
    noncentral t answers NaN far in its upper tail, where the power is 1 to double precision:
    read as 1."""
    result = float(TTestPower().power(effect_size=d_z, nobs=n, alpha=alpha / 2, alternative="larger"))
    return 1.0 if math.isnan(result) else result


def mde(n: int, sd: float, alpha: float = ALPHA) -> float:
    """The minimum detectable effect (see the module's docstring): the true mean difference, in the
    units of ``sd``, that the paired t-test on ``n`` pairs whose differences have standard
    deviation ``sd`` detects with probability :data:`POWER` at level ``alpha`` (:func:`power`);
    NaN under 2 pairs or where sd is not positive (no spread, no test)."""
    if n < 2 or not (math.isfinite(sd) and sd > 0):
        return math.nan
    high = 1.0
    while power(high, n, alpha) < POWER:
        high *= 2
    return brentq(lambda d_z: power(d_z, n, alpha) - POWER, 0.0, high, xtol=1e-12, rtol=1e-12) * sd


def pairs_needed(effect: float, sd: float, alpha: float = ALPHA) -> int:
    """The fewest pairs, at least :data:`MIN_PAIRS`, at which the paired t-test at level ``alpha``
    detects a true mean difference ``effect`` with probability :data:`POWER`, the differences'
    standard deviation being ``sd``: the inverse of :func:`mde`, ``mde(n) <= effect < mde(n - 1)``."""
    if not (effect > 0 and sd > 0):
        raise ValueError(f"pairs_needed: effect {effect} and sd {sd} must be positive")
    d_z = effect / sd
    if power(d_z, MIN_PAIRS, alpha) >= POWER:
        return MIN_PAIRS
    low, high = MIN_PAIRS, 2 * MIN_PAIRS  # the power grows with n: too few at low, enough at high
    while power(d_z, high, alpha) < POWER:
        low, high = high, 2 * high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if power(d_z, middle, alpha) >= POWER else (middle, high)
    return high


# Families of paired comparisons. ------------------------------------------------------------

def compared(scores: pd.DataFrame) -> pd.DataFrame:
    """Every two columns of ``scores`` (one row per pair, one column per row of the board, best
    first) compared pair by pair: one row per (a, b), a left of b, with n, the mean of a - b,
    the half-width of its 95% interval, the paired t-test's p and the sd of a - b."""
    rows = []
    for a, b in combinations(scores.columns, 2):
        result = paired(scores[a].to_numpy(float), scores[b].to_numpy(float))
        rows.append({"a": a, "b": b, "n": len(scores), **result._asdict()})
    return pd.DataFrame(rows, columns=COMPARISON_COLUMNS).astype({"n": int})


def judged(family: pd.DataFrame, lower_is_better: bool) -> pd.DataFrame:
    """One family of comparisons (columns n, difference, p, sd) with ``p_adjusted`` (Holm over the
    family), ``verdict``, ``level`` (Holm's first level, alpha / m, m its comparisons with a
    spread to test, sd > 0: Holm's m where each has :data:`MIN_PAIRS` pairs or more) and
    ``mde`` (at that level)."""
    at = level(int((family["sd"] > 0).sum()))
    adjusted = holm(family["p"].to_numpy(float))
    return family.assign(
        p_adjusted=adjusted,
        verdict=[verdict(n, d, p, lower_is_better) for n, d, p in zip(family["n"], family["difference"], adjusted)],
        level=at, mde=[mde(n, sd, at) for n, sd in zip(family["n"], family["sd"])])


def letters(methods: list[str], comparisons: pd.DataFrame) -> pd.Series:
    """The compact letter display of ``methods`` (best first) from their judged comparisons: a
    Series of letters ("a", "ab", ...) indexed by method (see the module's docstring)."""
    p = pd.DataFrame(1.0, index=methods, columns=methods)
    for a, b, adjusted in zip(comparisons["a"], comparisons["b"], comparisons["p_adjusted"]):
        p.loc[a, b] = p.loc[b, a] = adjusted if math.isfinite(adjusted) else 1.0  # no test: cannot tell
    return scikit_posthocs.compact_letter_display(p, alpha=ALPHA).str.replace(" ", "")


# Friedman and Nemenyi. -----------------------------------------------------------------------

@dataclass(frozen=True)
class Friedman:
    """The Friedman test of a family over ``persons`` (see the module's docstring): ``ranks``,
    each row's average rank (1 best), ``statistic`` (chi-squared), ``p``, ``nemenyi`` (the
    post-hoc p-values, every one 1 where Friedman does not reject) and ``cd`` (the critical
    difference in ranks); or, where there is no test, ``reason`` says why and the rest is empty."""

    persons: int
    rows: int
    ranks: pd.Series
    statistic: float = math.nan
    p: float = math.nan
    nemenyi: pd.DataFrame | None = None
    cd: float = math.nan
    reason: str = ""

    def __str__(self) -> str:
        """``Friedman χ² = 12.3, p = 0.004 over 5 persons and 7 rows``, or why there is no test."""
        if self.reason:
            return f"no Friedman test: {self.reason}"
        p = "p < 0.001" if self.p < 0.001 else f"p = {self.p:.3f}"
        return f"Friedman χ² = {self.statistic:.2f}, {p} over {self.persons} persons and {self.rows} rows"


def friedman(by_person: pd.DataFrame, lower_is_better: bool) -> Friedman:
    """The Friedman test and Nemenyi's post-hoc test on ``by_person`` (one row per person, one
    column per row of the board, no NaN)."""
    persons, rows = by_person.shape
    signed = by_person if lower_is_better else -by_person
    ranks = signed.rank(axis=1).mean()
    if rows < 3 or persons < 2:
        reason = (f"{rows} row{'s' * (rows != 1)} (it needs at least 3)" if rows < 3
                  else f"{persons} person{'s' * (persons != 1)} (it needs at least 2)")
        return Friedman(persons, rows, ranks, reason=reason)
    with np.errstate(invalid="ignore", divide="ignore"):
        result = stats.friedmanchisquare(*(signed[c].to_numpy(float) for c in signed.columns))
    if not math.isfinite(result.statistic):
        return Friedman(persons, rows, ranks, reason="every person ranks the rows alike, all tied")
    nemenyi = scikit_posthocs.posthoc_nemenyi_friedman(signed.to_numpy(float))
    nemenyi.index = nemenyi.columns = by_person.columns
    if result.pvalue >= ALPHA:
        nemenyi[:] = 1.0  # the post-hoc test only where Friedman rejects
    q = stats.studentized_range.ppf(1 - ALPHA, rows, np.inf) / math.sqrt(2)
    cd = q * math.sqrt(rows * (rows + 1) / (6 * persons))
    return Friedman(persons, rows, ranks, float(result.statistic), float(result.pvalue), nemenyi, float(cd))


# A board's families. -------------------------------------------------------------------------

@dataclass(frozen=True)
class Family:
    """The full-coverage rows of one K (``k``, as shown), best first (``methods``), compared over
    their common (person, seed) ``pairs``: ``comparisons`` (one row per two rows: a, b, n,
    difference = a - b in print scale, ci95, p, sd, p_adjusted, verdict, level, mde), ``groups``
    (letters per method) and ``friedman``."""

    k: str
    methods: tuple[str, ...]
    pairs: tuple[tuple[str, int], ...]
    comparisons: pd.DataFrame
    groups: pd.Series
    friedman: Friedman

    @property
    def persons(self) -> list[str]:
        return sorted({p for p, _ in self.pairs}, key=person_key)

    @property
    def seeds(self) -> list[int]:
        return sorted({s for _, s in self.pairs})


def families(board: Board, table: pd.DataFrame) -> list[Family]:
    """One :class:`Family` per K of ``table`` (the board's table, :func:`facebench.board.aggregate.aggregate`),
    in the table's order; a K whose rows are all provisional has none."""
    lower = better_is_lower(*PRIMARY)
    runs = board.runs.assign(person=board.runs["person"].astype(str), seed=board.runs["seed"].astype(int),
                             score=scaled(board.runs, *PRIMARY), shown_k=board.runs["K"].map(k_label))
    full = table[~table["provisional"].astype(bool)]
    out = []
    for k in dict.fromkeys(full["K"].map(k_label)):
        methods = full.loc[full["K"].map(k_label) == k, "method"].tolist()
        mine = runs[(runs["shown_k"] == k) & runs["method"].isin(methods)]
        by_pair = _table(mine, ["person", "seed"], methods)  # a pair's score; one run per pair and row
        comparisons = judged(compared(by_pair), lower)
        by_person = _table(mine, ["person"], methods)  # the mean over a row's seeds of a person
        out.append(Family(k, tuple(methods), tuple((str(p), int(s)) for p, s in by_pair.index), comparisons,
                          letters(methods, comparisons), friedman(by_person, lower)))
    return out


def _table(runs: pd.DataFrame, keys: list[str], methods: list[str]) -> pd.DataFrame:
    """The mean score of each of ``methods`` (columns, in that order) per ``keys`` (rows), only
    the rows where every method has one."""
    means = runs.groupby([*keys, "method"])["score"].mean().unstack("method")
    return means.reindex(columns=methods).dropna()


def tied_groups(board: Board, table: pd.DataFrame) -> pd.Series:
    """The letters of every row of ``table`` (aligned with its index): the groups of its family
    (see the module's docstring), "" for a provisional row."""
    letter = {(f.k, method): group for f in families(board, table) for method, group in f.groups.items()}
    return pd.Series([letter.get((k_label(k), method), "") for k, method in zip(table["K"], table["method"])],
                     index=table.index, name="group", dtype=object)


def with_groups(board: Board, table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with the column ``group`` (:func:`tied_groups`) after ``method``."""
    table = table.drop(columns="group", errors="ignore")
    table.insert(table.columns.get_loc("method") + 1, "group", tied_groups(board, table))
    return table
