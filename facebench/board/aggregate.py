"""A board's table and the statistics every view shares: means with intervals, coverage, paired tests.

Rows. One row per (method, K) of :attr:`facebench.board.load.Board.runs`: K is the runs'
``buffer_size`` (none for strategies without a buffer, shown "-"), the method is the
strategy's name with the other parameters that differ from its defaults
(``facebench.registry.method_name``).

Cells. For each of :data:`COLUMNS`, (score, summary): the mean over the row's n runs (persons x
seeds) of the run's summary times the score's print scale, and the half-width of its 95%
confidence interval, ``t(0.975, n - 1) * s / sqrt(n)`` (Student t, ``s`` the sample standard
deviation, ddof 1). A row of one run has no interval (NaN; shown "—").

Coverage. A mean over persons 0 and 1 is not comparable with a mean over persons 0 to 4: persons
differ systematically (some are easier), while seeds are replicates. The board's grid
(:func:`grid`) is every person of any of its runs, times the board's seeds: those more than half
of its rows ran. A row that lacks a run of the grid, a (person, seed) pair, is *provisional*
(:func:`coverage`, "provisional: 2/5 persons"); a row may have more seeds than the grid and stay
full. Where no seed was run by more than half of the rows, the rows share no seeds to be held
to, and a row is provisional only when it lacks a person.

Ranking. Within each K, the full-coverage rows first, ranked 1, 2, ... by :data:`PRIMARY`, the
reconstruction AIP of the perceptual distance (lower is better), ties broken by
:data:`TIEBREAK`, reconstruction forgetting of the perceptual distance, then by name; then the
provisional rows in the same order, unranked (rank NA). AIP, not forgetting, because it is
defined for every strategy (forgetting is not, for a joint model), it rewards learning each new
session as well as keeping the old ones (a model that never learns forgets nothing), and it is
the paper's first column.

Paired comparisons (:func:`paired`, :func:`holm`, :func:`verdict`; used by
:mod:`facebench.board.compare` and :mod:`facebench.board.ranking`). Two rows are compared over the (person, seed) pairs both have,
only those: d = a - b per pair, in print scale. The difference is the mean of d with its 95%
Student-t interval (``scipy.stats.ttest_rel``'s, t(n - 1)); the test is the two-sided paired
t-test, which assumes the d are roughly normal. Why not Wilcoxon's signed-rank test: with the 5
persons of one seed its smallest two-sided p is 2/32 = 0.0625, so it could never find a
difference. Below :data:`MIN_PAIRS` pairs there is no p-value at all: a t-test on one degree of
freedom says nothing worth printing. The p-values of one family (one new row against each of its
baselines in one column; a board's rows of one K against each other) are corrected with Holm's
step-down method (:func:`holm`), which bounds
the chance of any false "better" or "worse" in the family by :data:`ALPHA` without assuming the
tests independent (they are not: the baselines share pairs). The verdict on a baseline is
"better" or "worse" (the column's direction, :func:`better_is_lower`) when the Holm-adjusted p is
below :data:`ALPHA`, and otherwise "cannot tell": the difference is within what chance gives at
that level, which is no evidence that the two are equal (with 5 pairs, only a large and steady
difference is told apart). "cannot tell (n < 3)": too few shared pairs to test; "cannot tell (no
spread)": every d equal, no t-test; "no shared pairs": nothing to compare. The interval is the
unadjusted 95% one: it may exclude 0 while the adjusted verdict is "cannot tell".
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from facebench.board.load import Board
from facebench.protocol import SCORES

#: The board's columns, (score, summary), in the paper's order, then the final-model average of
#: the primary score (the mean over sessions of the last model, which scores ``joint`` like
#: every other row), the synthesis kernel distance and PSNR.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("recon_perceptual", "aip"),
    ("recon_identity", "aip"),
    ("recon_perceptual", "forgetting"),
    ("recon_identity", "forgetting"),
    ("synth_frechet", "aip"),
    ("synth_identity", "aip"),
    ("synth_frechet", "forgetting"),
    ("synth_identity", "forgetting"),
    ("recon_perceptual", "final_average"),
    ("synth_kid", "aip"),
    ("recon_psnr", "aip"),
)
PRIMARY = ("recon_perceptual", "aip")
TIEBREAK = ("recon_perceptual", "forgetting")
CONFIDENCE = 0.95
ALPHA = round(1 - CONFIDENCE, 10)
"""The family-wise error rate a Holm-corrected family of tests keeps below."""
MIN_PAIRS = 3
"""The fewest (person, seed) pairs a paired test is run on; below, no p-value and "cannot tell"."""

BETTER, WORSE, CANNOT_TELL = "better", "worse", "cannot tell"
TOO_FEW = f"cannot tell (n < {MIN_PAIRS})"
NO_SPREAD = "cannot tell (no spread)"
NO_PAIRS = "no shared pairs"


def column(score: str, summary: str) -> str:
    """A column's name in tables and files: ``recon_perceptual_aip_x10`` (the x10 says the
    values are printed times 10)."""
    scale = SCORES[score][1]
    return f"{score}_{summary}" + (f"_x{scale}" if scale != 1 else "")


def k_label(k) -> str:
    """K as shown: the buffer size, or "-" for a strategy without a buffer."""
    return "-" if pd.isna(k) else str(int(k))


def better_is_lower(score: str, summary: str) -> bool:
    """Forgetting is lower-is-better for every score; AIP and the final average follow the score's direction."""
    return summary == "forgetting" or SCORES[score][0] == "lower"


def scaled(runs: pd.DataFrame, score: str, summary: str) -> pd.Series:
    """A summary of every run, times the score's print scale."""
    return runs[f"{score}.{summary}"] * SCORES[score][1]


def mean_interval(values: pd.Series | np.ndarray) -> tuple[float, float]:
    """Mean and 95% CI half-width, ``t(0.975, n - 1) * s / sqrt(n)``; NaN half-width for n < 2."""
    values = np.asarray(values, dtype=float)
    values = values[~np.isnan(values)]
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    if n == 1:
        return float(values[0]), math.nan
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * values.std(ddof=1) / math.sqrt(n)
    return float(values.mean()), float(half)


# Coverage. -----------------------------------------------------------------------------------

def person_key(person: str) -> tuple:
    """Persons in natural order: "2" before "10", numbers before names."""
    return (0, int(person), person) if person.isdigit() else (1, 0, person)


def braces(values) -> str:
    """``{0, 1}``."""
    return "{" + ", ".join(map(str, values)) + "}"


@dataclass(frozen=True)
class Grid:
    """The (person, seed) pairs a full-coverage row has: ``persons`` x ``seeds``."""

    persons: tuple[str, ...]
    seeds: tuple[int, ...]

    @property
    def pairs(self) -> set[tuple[str, int]]:
        """Every (person, seed) of the grid; none where it has no seeds."""
        return {(person, seed) for person in self.persons for seed in self.seeds}

    def __str__(self) -> str:
        persons = f"{len(self.persons)} person{'s' * (len(self.persons) != 1)}"
        return f"{persons} × seeds {braces(self.seeds)}" if self.seeds else f"{persons}, any seed"


def row_keys(runs: pd.DataFrame) -> list[pd.Series]:
    """The keys that group runs into rows, (K as shown, method)."""
    return [runs["K"].map(k_label), runs["method"]]


def grid(runs: pd.DataFrame) -> Grid:
    """The board's grid (see the module's docstring): every person of ``runs``, times the seeds
    more than half of the rows ran (none, where no seed was)."""
    if runs.empty:
        return Grid((), ())
    persons = tuple(sorted({str(p) for p in runs["person"]}, key=person_key))
    per_row = [set(seeds) for _, seeds in runs.groupby(row_keys(runs))["seed"]]
    counts = Counter(seed for seeds in per_row for seed in seeds)
    seeds = [s for s, c in counts.items() if c > len(per_row) / 2]
    return Grid(persons, tuple(sorted(int(s) for s in seeds)))


@dataclass(frozen=True)
class Coverage:
    """What a row covers of a grid: ``persons`` of its ``of`` persons have a run (on any seed),
    ``seeds`` the row's seeds, ``missing`` the pairs of the grid it lacks."""

    persons: int
    of: int
    seeds: tuple[int, ...]
    missing: int
    grid: Grid

    @property
    def provisional(self) -> bool:
        return self.missing > 0

    def __str__(self) -> str:
        """``2/5 persons, seeds {0}`` (persons of the grid with a run, the row's seeds), and how
        many pairs it lacks where that does not show."""
        text = f"{self.persons}/{self.of} persons, seeds {braces(self.seeds)}"
        if self.provisional and self.persons == self.of and set(self.grid.seeds) <= set(self.seeds):
            return text + f", {self.missing} of the board's {len(self.grid.pairs)} (person, seed) pairs missing"
        return text


def coverage(pairs, grid: Grid) -> Coverage:
    """What the (person, seed) ``pairs`` of a row cover of ``grid``; ``missing`` counts its
    persons where the grid has no seeds."""
    pairs = {(str(p), int(s)) for p, s in pairs}
    persons = {p for p, _ in pairs}
    missing = len(grid.pairs - pairs) if grid.seeds else len(set(grid.persons) - persons)
    return Coverage(persons=len(persons & set(grid.persons)), of=len(grid.persons),
                    seeds=tuple(sorted({s for _, s in pairs})), missing=missing, grid=grid)


def pairs_of(runs: pd.DataFrame) -> set[tuple[str, int]]:
    """The (person, seed) pairs of ``runs``."""
    return {(str(p), int(s)) for p, s in zip(runs["person"], runs["seed"])}


# The table. ----------------------------------------------------------------------------------

def aggregate(board: Board) -> pd.DataFrame:
    """The board's table: one row per (method, K) with K, rank, method, strategy, n (runs),
    ``histories`` (:func:`distinct_histories`), ``coverage`` (text, :class:`Coverage`), ``provisional``, ``memory_items`` and
    ``memory_bytes`` (means over runs of what the strategy kept besides the model,
    ``facebench.run.memory``; NaN items: it keeps no items), and for every column of
    :data:`COLUMNS` its mean and ``<column>_ci95`` (half-width), ranked within each K (see the
    module's docstring), bufferless rows first, then K ascending."""
    board_grid = grid(board.runs)
    rows = []
    for (k, method), runs in board.runs.groupby(["K", "method"], dropna=False, sort=False):
        covered = coverage(pairs_of(runs), board_grid)
        row = {"K": k, "method": method, "strategy": runs["strategy"].iloc[0], "n": len(runs),
               "histories": distinct_histories(runs), "coverage": str(covered), "provisional": covered.provisional,
               "memory_items": runs["memory.items"].mean(), "memory_bytes": runs["memory.bytes"].mean()}
        for score, summary in COLUMNS:
            row[column(score, summary)], row[column(score, summary) + "_ci95"] = mean_interval(
                scaled(runs, score, summary))
        rows.append(row)
    table = pd.DataFrame(rows)
    table["K"] = table["K"].astype("Int64")
    table["histories"] = table["histories"].astype("Int64")
    return rank(table)


def distinct_histories(runs: pd.DataFrame):
    """The distinct (person, buffer history) pairs among a row's runs (``buffer_history_sha256``,
    ``facebench.run.history``): the n of a buffer comparison, since seeds that replay the same
    buffers (ER-Hull's enumerated optimum) add no history; NA where no run recorded a history (no
    buffer, or files migrated from protocol version 1)."""
    recorded = runs.dropna(subset=["buffer_history"])
    return len(set(zip(recorded["person"], recorded["buffer_history"]))) if len(recorded) else pd.NA


def rank(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` sorted by K (none first) and, within each K, the full-coverage rows before the
    provisional ones (column ``provisional``; all full where it is absent), each best first by
    :data:`PRIMARY`, then :data:`TIEBREAK`, then method; with ``rank`` = 1, 2, ... within each K
    for the full-coverage rows, NA for the provisional ones."""
    if "provisional" not in table:
        table = table.assign(provisional=False)
    table = table.assign(provisional=table["provisional"].astype(bool))
    keys = []
    for score, summary in (PRIMARY, TIEBREAK):
        name = column(score, summary)
        keys.append(name if better_is_lower(score, summary) else "_neg_" + name)
        table = table.assign(**{"_neg_" + name: -table[name]})
    table = table.sort_values(["K", "provisional", *keys, "method"], na_position="first", kind="stable")
    table = table.drop(columns=[c for c in table.columns if c.startswith("_neg_")])
    ranks = table.groupby(["K", "provisional"], dropna=False).cumcount() + 1
    table["rank"] = pd.array(ranks.where(~table["provisional"]).tolist(), dtype="Int64")
    first = ["K", "rank", "method", "strategy", "n", "histories", "coverage", "provisional"]
    first = [c for c in first if c in table.columns]
    return table[first + [c for c in table.columns if c not in first]].reset_index(drop=True)


# Paired comparisons. -------------------------------------------------------------------------

class Paired(NamedTuple):
    """A paired comparison over n pairs (a[i], b[i]), d = a - b."""

    difference: float
    """The mean of d (NaN for no pair)."""
    ci95: float
    """The half-width of its 95% Student-t interval (NaN under 2 pairs or when every d is equal)."""
    p: float
    """The two-sided paired t-test's p (NaN under :data:`MIN_PAIRS` pairs or when every d is equal)."""
    sd: float
    """The standard deviation of d, ddof 1 (NaN under 2 pairs)."""


def paired(a: np.ndarray, b: np.ndarray) -> Paired:
    """The paired comparison of ``a`` and ``b`` (see :class:`Paired`)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    d = a - b
    if len(d) < 2:
        return Paired(float(d.mean()) if len(d) else math.nan, math.nan, math.nan, math.nan)
    if np.ptp(d) == 0:
        return Paired(float(d.mean()), math.nan, math.nan, 0.0)
    result = stats.ttest_rel(a, b)
    low, high = result.confidence_interval(CONFIDENCE)
    p = float(result.pvalue) if len(d) >= MIN_PAIRS else math.nan
    return Paired(float(d.mean()), float((high - low) / 2), p, float(d.std(ddof=1)))


def holm(p) -> np.ndarray:
    """Holm's step-down adjusted p-values of one family of tests (NaN: no test, not counted).

    With the m p-values sorted, p(1) <= ... <= p(m), the adjusted p(i) is
    max over j <= i of min(1, (m - j + 1) p(j)); a test is rejected at level alpha when its
    adjusted p is below alpha, which keeps the chance of any false rejection in the family
    below alpha whatever the dependence between the tests (Holm 1979). The tests check it
    against ``statsmodels.stats.multitest.multipletests(p, method="holm")``, which is not called
    here: its Holm branch runs ``gc.collect()`` on every call, 0.3 s in a process that holds
    torch, and a compare makes over a hundred such calls."""
    p = np.asarray(p, dtype=float)
    adjusted = np.full(p.shape, np.nan)
    tested = np.flatnonzero(np.isfinite(p))
    order = tested[np.argsort(p[tested], kind="stable")]
    m = len(order)
    adjusted[order] = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    return adjusted


def verdict(n: int, difference: float, p_adjusted: float, lower_is_better: bool) -> str:
    """The verdict on new - baseline (see the module's docstring): "better", "worse", "cannot
    tell", "cannot tell (n < 3)", "cannot tell (no spread)" or "no shared pairs"."""
    if n == 0:
        return NO_PAIRS
    if n < MIN_PAIRS:
        return TOO_FEW
    if not math.isfinite(p_adjusted):
        return NO_SPREAD
    if p_adjusted >= ALPHA or difference == 0:
        return CANNOT_TELL
    return BETTER if (difference < 0) == lower_is_better else WORSE
