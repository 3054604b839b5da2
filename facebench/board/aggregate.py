"""A board's table: one ranked row per (method, K), each cell a mean with its 95% interval.

Rows. One row per (method, K) of :attr:`facebench.board.load.Board.runs`: K is the runs'
``buffer_size`` (none for strategies without a buffer, shown "-"), the method is the
strategy's name with its other parameters.

Cells. For each of :data:`COLUMNS`, (score, summary): the mean over the row's n runs (persons x
seeds) of the run's summary times the score's print scale, and the half-width of its 95%
confidence interval, ``t(0.975, n - 1) * s / sqrt(n)`` (Student t, ``s`` the sample standard
deviation, ddof 1). A row of one run has no interval (NaN; shown "—").

Ranking. Within each K, by :data:`PRIMARY`, the reconstruction AIP of the perceptual distance
(lower is better), ties broken by :data:`TIEBREAK`, reconstruction forgetting of the perceptual
distance, then by name. AIP, not forgetting, because it is defined for every strategy
(forgetting is not, for a joint model), it rewards learning each new session as well as keeping
the old ones (a model that never learns forgets nothing), and it is the paper's first column.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from facebench.board.load import Board
from facebench.protocol import SCORES

#: The board's columns, (score, summary), in the paper's order, then PSNR.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("recon_perceptual", "aip"),
    ("recon_identity", "aip"),
    ("recon_perceptual", "forgetting"),
    ("recon_identity", "forgetting"),
    ("synth_frechet", "aip"),
    ("synth_identity", "aip"),
    ("synth_frechet", "forgetting"),
    ("synth_identity", "forgetting"),
    ("recon_psnr", "aip"),
)
PRIMARY = ("recon_perceptual", "aip")
TIEBREAK = ("recon_perceptual", "forgetting")
CONFIDENCE = 0.95


def column(score: str, summary: str) -> str:
    """A column's name in tables and files: ``recon_perceptual_aip_x10`` (the x10 says the
    values are printed times 10)."""
    scale = SCORES[score][1]
    return f"{score}_{summary}" + (f"_x{scale}" if scale != 1 else "")


def k_label(k) -> str:
    """K as shown: the buffer size, or "-" for a strategy without a buffer."""
    return "-" if pd.isna(k) else str(int(k))


def better_is_lower(score: str, summary: str) -> bool:
    """Forgetting is lower-is-better for every score; AIP follows the score's direction."""
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


def aggregate(board: Board) -> pd.DataFrame:
    """The board's table: one row per (method, K) with K, method, strategy, n (runs), rank,
    ``memory_items`` and ``memory_bytes`` (means over runs of what the strategy kept besides the
    model, ``facebench.run.memory``; NaN items: it keeps no items), and for every column of
    :data:`COLUMNS` its mean and ``<column>_ci95`` (half-width), ranked within each K (see the
    module's docstring), bufferless rows first, then K ascending."""
    rows = []
    for (k, method), runs in board.runs.groupby(["K", "method"], dropna=False, sort=False):
        row = {"K": k, "method": method, "strategy": runs["strategy"].iloc[0], "n": len(runs),
               "memory_items": runs["memory.items"].mean(), "memory_bytes": runs["memory.bytes"].mean()}
        for score, summary in COLUMNS:
            row[column(score, summary)], row[column(score, summary) + "_ci95"] = mean_interval(
                scaled(runs, score, summary))
        rows.append(row)
    table = pd.DataFrame(rows)
    table["K"] = table["K"].astype("Int64")
    return rank(table)


def rank(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` sorted by K (none first) and, within each K, best first by :data:`PRIMARY`, then
    :data:`TIEBREAK`, then method; with ``rank`` = 1, 2, ... within each K."""
    keys = []
    for score, summary in (PRIMARY, TIEBREAK):
        name = column(score, summary)
        keys.append(name if better_is_lower(score, summary) else "_neg_" + name)
        table = table.assign(**{"_neg_" + name: -table[name]})
    table = table.sort_values(["K", *keys, "method"], na_position="first", kind="stable")
    table = table.drop(columns=[c for c in table.columns if c.startswith("_neg_")])
    table["rank"] = table.groupby("K", dropna=False).cumcount() + 1
    first = ["K", "rank", "method", "strategy", "n"]
    return table[first + [c for c in table.columns if c not in first]].reset_index(drop=True)
