"""The leaderboard's plots, PNG files drawn with matplotlib's Agg canvas (not through pyplot).

- ``aip_forgetting_vs_k.png``: for each board score, AIP (top) and forgetting (bottom) against
  K, one line per strategy with its 95% intervals as error bars; strategies without a buffer
  are a dashed horizontal line with the interval as a band.
- ``matrix_<score>.png``: each row's score matrix a[t][k] (mean over its runs) as a heatmap
  tile, the tiles of one K in one column.
- ``session0_over_time.png``: a[t][0], the score on session 0 after training on session t,
  mean over runs, per strategy: one panel per (score, K); strategies without a buffer appear
  dashed in every K's panel.

Scores drawn: the paper's four (perceptual and identity, reconstruction and synthesis); PSNR is
in the table only. All values are in print scale (times 10 where the paper prints times 10).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from facebench.board.aggregate import COLUMNS, column, k_label
from facebench.board.labels import LABELS, header
from facebench.board.load import Board
from facebench.protocol import SCORES

#: Scores drawn: the paper's four, those with a forgetting column on the board.
PLOTTED = tuple(dict.fromkeys(score for score, summary in COLUMNS if summary == "forgetting"))


def plot_board(board: Board, table: pd.DataFrame, out: str | Path) -> list[Path]:
    """Draw every plot of ``board`` into the folder ``out``; returns the files."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures = {"aip_forgetting_vs_k.png": _against_k(table), "session0_over_time.png": _session0(board, table)}
    figures.update({f"matrix_{score}.png": _matrices(board, table, score) for score in PLOTTED})
    for name, figure in figures.items():
        figure.savefig(out / name, dpi=80)
    return [out / name for name in figures]


def _figure(width: float, height: float) -> Figure:
    """A figure drawn by Agg, outside pyplot: no global state, no backend switched for the caller."""
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def _colors(strategies) -> dict[str, tuple]:
    """One colour per strategy, distinct for up to 20 strategies (the board has 15): tab20's ten
    dark hues first, then their light twins."""
    cmap = colormaps["tab20"]
    order = [*range(0, cmap.N, 2), *range(1, cmap.N, 2)]
    return {name: cmap(order[index % cmap.N]) for index, name in enumerate(sorted(set(strategies)))}


def _against_k(table: pd.DataFrame):
    summaries = ("aip", "forgetting")
    figure = _figure(3.6 * len(PLOTTED), 6.4)
    axes = figure.subplots(2, len(PLOTTED), squeeze=False)
    colors = _colors(table["strategy"])
    buffered, bufferless = table[table["K"].notna()], table[table["K"].isna()]
    for row, summary in enumerate(summaries):
        for col, score in enumerate(PLOTTED):
            axis, name = axes[row][col], column(score, summary)
            for method, rows in buffered.groupby("method"):
                rows = rows.sort_values("K")
                axis.errorbar(rows["K"].astype(float), rows[name], yerr=rows[name + "_ci95"].fillna(0),
                              marker="o", capsize=3, color=colors[rows["strategy"].iloc[0]], label=method)
            for _, reference in bufferless.iterrows():
                if np.isfinite(reference[name]):
                    axis.axhline(reference[name], linestyle="--", color=colors[reference["strategy"]],
                                 label=reference["method"])
                    half = np.nan_to_num(reference[name + "_ci95"])
                    axis.axhspan(reference[name] - half, reference[name] + half, alpha=0.12,
                                 color=colors[reference["strategy"]])
            axis.set_title(header(score, summary), fontsize=9)
            axis.set_xlabel("K (buffer size)")
            if len(buffered):
                axis.set_xticks(sorted(buffered["K"].astype(int).unique()))
    _legend(figure, axes)
    return figure


def _legend(figure, axes) -> None:
    """One legend under the panels, and margins fixed in inches (cheaper than a layout engine)."""
    labels = {}
    for axis in np.ravel(axes):
        for handle, label in zip(*axis.get_legend_handles_labels()):
            labels.setdefault(label, handle)
    columns = min(6, len(labels))
    figure.legend(labels.values(), labels.keys(), loc="lower center", ncol=columns, fontsize=8)
    width, height = figure.get_size_inches()
    bottom = 0.75 + 0.22 * -(-len(labels) // columns)
    figure.subplots_adjust(left=0.7 / width, right=1 - 0.15 / width, top=1 - 0.35 / height, bottom=bottom / height,
                           hspace=0.45, wspace=0.3)


def mean_matrix(matrices: list[np.ndarray]) -> np.ndarray:
    """The elementwise mean of matrices over their finite entries, NaN where none is finite;
    NaN-padded to the largest shape (a joint run's 1 x T matrix beside the T x T ones)."""
    padded = np.full((len(matrices), max(m.shape[0] for m in matrices), max(m.shape[1] for m in matrices)), np.nan)
    for index, matrix in enumerate(matrices):
        padded[index, : matrix.shape[0], : matrix.shape[1]] = matrix
    finite = np.isfinite(padded)
    count = finite.sum(0)
    return np.where(count > 0, np.where(finite, padded, 0).sum(0) / np.maximum(count, 1), np.nan)


def _row_matrices(board: Board, table: pd.DataFrame, score: str):
    """(table row, mean matrix of its runs in print scale) for every row of ``table``, in order."""
    keys = [board.runs["K"].map(k_label), board.runs["method"]]
    groups = {key: runs["matrices"] for key, runs in board.runs.groupby(keys)}
    for _, row in table.iterrows():
        matrices = [m[score] for m in groups[(k_label(row["K"]), row["method"])]]
        yield row, mean_matrix(matrices) * SCORES[score][1]


def _title(row) -> str:
    return row["method"] + ("" if pd.isna(row["K"]) else f" K={row['K']}")


def _matrices(board: Board, table: pd.DataFrame, score: str):
    """One image of tiles, one tile per table row (its mean a[t][k]), one column of tiles per K."""
    columns: dict[str, list] = {}
    for row, matrix in _row_matrices(board, table, score):
        columns.setdefault(k_label(row["K"]), []).append((row, matrix))
    size = max(max(matrix.shape) for tiles in columns.values() for _, matrix in tiles)
    gap = max(2, size // 3)
    step = size + gap
    rows = max(len(tiles) for tiles in columns.values())
    canvas = np.full((gap + rows * step, len(columns) * step), np.nan)
    inch = 1.7 / step  # a tile and its gap: 1.7 inches
    width, height = canvas.shape[1] * inch + 1.3, canvas.shape[0] * inch + 0.7
    figure = _figure(width, height)
    axis = figure.subplots()
    figure.subplots_adjust(left=0.1 / width, right=1 - 1.2 / width, bottom=0.1 / height, top=1 - 0.6 / height)
    for c, tiles in enumerate(columns.values()):
        for r, (row, matrix) in enumerate(tiles):
            y, x = gap + r * step, c * step
            canvas[y: y + matrix.shape[0], x: x + matrix.shape[1]] = matrix
            axis.text(x - 0.5, y - 0.7, _title(row), fontsize=7, va="bottom")
    cmap = colormaps["viridis_r" if SCORES[score][0] == "lower" else "viridis"].with_extremes(bad="white")
    image = axis.imshow(canvas, cmap=cmap, interpolation="nearest")
    axis.axis("off")
    scale = SCORES[score][1]
    axis.set_title(f"{LABELS[score]}{f' ×{scale}' if scale != 1 else ''}: a[t][k], mean over runs\n"
                   "row t: after training on session t; column k: session k (one row: joint)", fontsize=8)
    figure.colorbar(image, cax=figure.add_axes((1 - 1.0 / width, 0.15, 0.15 / width, 0.7)), label="brighter is better")
    return figure


def _session0(board: Board, table: pd.DataFrame):
    ks = sorted(table["K"].dropna().astype(int).unique()) or [None]
    figure = _figure(3.4 * len(ks), 2.3 * len(PLOTTED) + 1.2)
    axes = figure.subplots(len(PLOTTED), len(ks), squeeze=False, sharex=True)
    colors = _colors(table["strategy"])
    for r, score in enumerate(PLOTTED):
        for row, matrix in _row_matrices(board, table, score):
            curve = matrix[:, 0] if len(matrix) > 1 else np.full(matrix.shape[1], matrix[0, 0])
            bufferless = pd.isna(row["K"])
            for c, k in enumerate(ks):
                if bufferless or row["K"] == k:
                    axes[r][c].plot(np.arange(len(curve)), curve, linestyle="--" if bufferless else "-",
                                    marker=None if bufferless else ".", color=colors[row["strategy"]],
                                    label=row["strategy"])
        for c, k in enumerate(ks):
            axes[r][c].set_title(f"{LABELS[score]}" + ("" if k is None else f", K={k}"), fontsize=9)
            axes[-1][c].set_xlabel("after training on session t")
            axes[-1][c].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[r][0].set_ylabel("a[t][0]")
    _legend(figure, axes)
    return figure
