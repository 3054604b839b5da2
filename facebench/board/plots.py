"""The leaderboard's plots, PNG files drawn with matplotlib's Agg canvas (not through pyplot).

- ``aip_forgetting_vs_k.png``: for each board score, AIP (top) and forgetting (bottom) against
  K, one line per method with its 95% intervals as error bars; methods without a buffer are a
  dashed horizontal line with the interval as a band.
- ``matrix_<score>.png``: each row's score matrix a[t][k] (mean over its runs) as a heatmap
  tile, the tiles of one K in one column, each under its title (wrapped to the tile's width).
- ``session0_over_time.png``: a[t][0], the score on session 0 after training on session t,
  mean over runs, per method: one panel per (score, K); methods without a buffer appear
  dashed in every K's panel.
- ``cd_k<K>.png``, ``cd_no_buffer.png``: the critical-difference diagram (Demšar 2006) of each
  K's full-coverage rows, and of the rows without a buffer (:mod:`facebench.board.ranking`: their
  average ranks over persons on the primary column, 1 best, on the axis; a bar joins rows
  Nemenyi's test cannot tell apart), drawn by ``scikit_posthocs.critical_difference_diagram``;
  its title says the Friedman test's chi-squared, p and persons, and the critical difference.
  None where there is no Friedman test (under 3 rows or 2 persons).

Scores drawn: the paper's four (perceptual and identity, reconstruction and synthesis); PSNR is
in the table only. All values are in print scale (times 10 where the paper prints times 10).

Colours. A method's colour and marker are its own, whatever else is on the board: taken from the
SHA-1 of its name (:func:`style`), a colour of the 20 of tab20 and one of :data:`MARKERS`. Two
methods can share a colour (20 colours); they then have different markers, most of the time.

Provisional rows and intervals. An interval of fewer than :data:`MIN_RUNS` runs is not drawn:
with n = 2 the t interval is 12.7 standard errors wide, and one such bar rescaled every panel.
A provisional row (:mod:`facebench.board.aggregate`: it lacks some of the board's persons or
seeds) is drawn dotted with hollow markers, "(provisional)" after its name, and its interval
does not set the axes: a panel's y range is that of every row's mean and the full-coverage
rows' intervals, and a provisional row's bar outside it is clipped. The legend sits under the panels, in as many
columns as fit the figure's width (the figure widens for a name longer than that), never
clipped.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import scikit_posthocs
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ticker import MaxNLocator

from facebench.board.aggregate import ALPHA, COLUMNS, MIN_PAIRS, PRIMARY, column, k_label
from facebench.board.labels import LABELS, header
from facebench.board.load import Board
from facebench.board.ranking import Family, families
from facebench.protocol import SCORES

#: Scores drawn: the paper's four, those with a forgetting column on the board.
PLOTTED = tuple(dict.fromkeys(score for score, summary in COLUMNS if summary == "forgetting"))
#: The fewest runs whose interval is drawn.
MIN_RUNS = MIN_PAIRS
#: A method's marker is one of these (:func:`style`).
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")
_TAB20 = colormaps["tab20"]
#: The colours: tab20's ten dark hues, then their light twins.
PALETTE = tuple(_TAB20(index) for index in (*range(0, 20, 2), *range(1, 20, 2)))


def plot_board(board: Board, table: pd.DataFrame, out: str | Path) -> list[Path]:
    """Draw every plot of ``board`` into the folder ``out``; returns the files."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures = {"aip_forgetting_vs_k.png": _against_k(table), "session0_over_time.png": _session0(board, table)}
    figures.update({f"matrix_{score}.png": _matrices(board, table, score) for score in PLOTTED})
    figures.update({cd_file(family.k): critical_difference(family) for family in families(board, table)
                    if not family.friedman.reason})
    for name, figure in figures.items():
        figure.savefig(out / name, dpi=80)
    return [out / name for name in figures]


def _figure(width: float, height: float) -> Figure:
    """A figure drawn by Agg, outside pyplot: no global state, no backend switched for the caller."""
    figure = Figure(figsize=(width, height))
    FigureCanvasAgg(figure)
    return figure


def style(method: str) -> tuple[tuple, str]:
    """A method's colour (of :data:`PALETTE`) and marker (of :data:`MARKERS`), from the SHA-1 of
    its name alone: the same on every board, whatever other methods it has."""
    number = int.from_bytes(hashlib.sha1(method.encode("utf-8")).digest()[:8], "big")
    return PALETTE[number % len(PALETTE)], MARKERS[number // len(PALETTE) % len(MARKERS)]


def _label(row) -> str:
    return row["method"] + (" (provisional)" if row.get("provisional", False) else "")


def _interval(row, name: str) -> float:
    """The half-width drawn for ``row``'s column ``name``: 0 under :data:`MIN_RUNS` runs or none."""
    half = row[name + "_ci95"]
    return float(half) if row["n"] >= MIN_RUNS and np.isfinite(half) else 0.0


def _limits(axis, table: pd.DataFrame, name: str) -> None:
    """The y range of a panel: every row's mean, and the drawn intervals of the full-coverage
    rows only, and a margin; a provisional row's interval outside it is clipped."""
    low, high = [], []
    for _, row in table.iterrows():
        if np.isfinite(row[name]):
            half = 0.0 if row.get("provisional", False) else _interval(row, name)
            low.append(row[name] - half)
            high.append(row[name] + half)
    if not low:
        return
    bottom, top = min(low), max(high)
    margin = 0.08 * (top - bottom) or 0.05 * abs(top) or 0.1
    axis.set_ylim(bottom - margin, top + margin)


def _against_k(table: pd.DataFrame):
    summaries = ("aip", "forgetting")
    figure = _figure(3.6 * len(PLOTTED), 5.8)
    axes = figure.subplots(2, len(PLOTTED), squeeze=False)
    if "provisional" not in table:
        table = table.assign(provisional=False)
    buffered, bufferless = table[table["K"].notna()], table[table["K"].isna()]
    for row, summary in enumerate(summaries):
        for col, score in enumerate(PLOTTED):
            axis, name = axes[row][col], column(score, summary)
            for method, rows in buffered.groupby("method"):
                _k_line(axis, rows.sort_values("K"), name)
            for _, reference in bufferless.iterrows():
                _reference(axis, reference, name)
            _limits(axis, table, name)
            axis.set_title(header(score, summary), fontsize=9)
            axis.set_xlabel("K (buffer size)")
            if len(buffered):
                axis.set_xticks(sorted(buffered["K"].astype(int).unique()))
    _legend(figure, axes)
    return figure


def _k_line(axis, rows: pd.DataFrame, name: str) -> None:
    """One method's means against K: filled markers where the row is full, hollow where it is
    provisional (and the line dotted), error bars where there are :data:`MIN_RUNS` runs."""
    color, marker = style(rows["method"].iloc[0])
    x, y = rows["K"].astype(float).to_numpy(), rows[name].to_numpy(float)
    provisional = rows["provisional"].astype(bool).to_numpy()
    full = ~provisional
    label = rows["method"].iloc[0] + (" (provisional)" if provisional.any() else "")
    axis.plot(x, y, linestyle=":" if provisional.any() else "-", color=color, marker=marker, markersize=5,
              markerfacecolor="none" if provisional.all() else color,
              markevery=list(np.flatnonzero(full)) if provisional.any() and full.any() else None, label=label)
    if provisional.any() and full.any():
        axis.plot(x[provisional], y[provisional], linestyle="none", color=color, marker=marker, markersize=5,
                  markerfacecolor="none")
    halves = np.array([_interval(row, name) for _, row in rows.iterrows()])
    shown = halves > 0
    if shown.any():
        axis.errorbar(x[shown], y[shown], yerr=halves[shown], fmt="none", capsize=3, color=color)


def _reference(axis, reference, name: str) -> None:
    """A method without a buffer: a dashed line (dotted: provisional) at its mean, a marker at
    both ends, and its interval as a band where there are :data:`MIN_RUNS` runs."""
    if not np.isfinite(reference[name]):
        return
    color, marker = style(reference["method"])
    provisional = bool(reference.get("provisional", False))
    axis.axhline(reference[name], linestyle=":" if provisional else "--", color=color, marker=marker,
                 markersize=4, markerfacecolor="none" if provisional else color, label=_label(reference))
    half = _interval(reference, name)
    if half > 0:
        axis.axhspan(reference[name] - half, reference[name] + half, alpha=0.12, color=color)


def _legend(figure, axes) -> None:
    """One legend under the panels, in as many columns (at most 6) as fit the figure's width,
    the figure widened if one column does not; margins fixed in inches (cheaper than a layout
    engine)."""
    labels = {}
    for axis in np.ravel(axes):
        for handle, label in zip(*axis.get_legend_handles_labels()):
            labels.setdefault(label, handle)
    renderer = figure.canvas.get_renderer()
    width, height = figure.get_size_inches()
    for columns in range(min(6, max(1, len(labels))), 0, -1):
        legend = figure.legend(labels.values(), labels.keys(), loc="lower center", ncol=columns, fontsize=8,
                               bbox_to_anchor=(0.5, 0.0))
        box = legend.get_window_extent(renderer)
        if box.width <= figure.bbox.width - 0.2 * figure.dpi or columns == 1:
            break
        legend.remove()
    width = max(width, box.width / figure.dpi + 0.2)
    legend_height = box.height / figure.dpi
    height += legend_height
    figure.set_size_inches(width, height)
    bottom = legend_height + 0.75
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
    return (row["method"] + ("" if pd.isna(row["K"]) else f" K={row['K']}")
            + (" (provisional)" if row.get("provisional", False) else ""))


TILE_INCHES = 1.7
"""A matrix tile and the gap to the next column's: 1.7 inches."""
TITLE_POINTS = 7
"""The font size of a tile's title."""
_measure = RendererAgg(1, 1, 72)  # measures text in points (pixels at 72 dpi)


def text_width(text: str, points: float) -> float:
    """The width of ``text`` in points at font size ``points``, as Agg draws it."""
    width, _, _ = _measure.get_text_width_height_descent(text, FontProperties(size=points), ismath=False)
    return width


def wrap(text: str, width: float, points: float) -> list[str]:
    """``text`` in lines at most ``width`` points wide, broken at spaces (a word wider than a
    line: between its characters)."""
    lines: list[str] = []
    for word in text.split():
        if lines and text_width(f"{lines[-1]} {word}", points) <= width:
            lines[-1] += f" {word}"
            continue
        while len(word) > 1 and text_width(word, points) > width:
            cut = 1
            while cut < len(word) and text_width(word[: cut + 1], points) <= width:
                cut += 1
            lines.append(word[:cut])
            word = word[cut:]
        lines.append(word)
    return lines or [""]


def _matrices(board: Board, table: pd.DataFrame, score: str):
    """One image of tiles, one tile per table row (its mean a[t][k]), one column of tiles per K,
    each tile under its title, wrapped to the tile and its gap; the gap above a row of tiles is
    as high as the longest title."""
    columns: dict[str, list] = {}
    for row, matrix in _row_matrices(board, table, score):
        columns.setdefault(k_label(row["K"]), []).append((row, matrix))
    size = max(max(matrix.shape) for tiles in columns.values() for _, matrix in tiles)
    gap = max(2, size // 3)
    step = size + gap
    inch = TILE_INCHES / step  # a cell
    titles = {id(row): wrap(_title(row), (step - 1) * inch * 72, TITLE_POINTS)
              for tiles in columns.values() for row, _ in tiles}
    lines = max(len(title) for title in titles.values())
    gap_above = max(gap, math.ceil(lines * TITLE_POINTS * 1.3 / 72 / inch) + 1)
    step_down = size + gap_above
    rows = max(len(tiles) for tiles in columns.values())
    canvas = np.full((gap_above + rows * step_down, len(columns) * step), np.nan)
    width, height = canvas.shape[1] * inch + 1.3, canvas.shape[0] * inch + 0.7
    figure = _figure(width, height)
    axis = figure.subplots()
    figure.subplots_adjust(left=0.1 / width, right=1 - 1.2 / width, bottom=0.1 / height, top=1 - 0.6 / height)
    for c, tiles in enumerate(columns.values()):
        for r, (row, matrix) in enumerate(tiles):
            y, x = gap_above + r * step_down, c * step
            canvas[y: y + matrix.shape[0], x: x + matrix.shape[1]] = matrix
            axis.text(x - 0.5, y - 0.7, "\n".join(titles[id(row)]), fontsize=TITLE_POINTS, va="bottom",
                      parse_math=False)
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
    figure = _figure(3.4 * len(ks), 2.3 * len(PLOTTED) + 0.5)
    axes = figure.subplots(len(PLOTTED), len(ks), squeeze=False, sharex=True)
    for r, score in enumerate(PLOTTED):
        for row, matrix in _row_matrices(board, table, score):
            curve = matrix[:, 0] if len(matrix) > 1 else np.full(matrix.shape[1], matrix[0, 0])
            bufferless = pd.isna(row["K"])
            provisional = bool(row.get("provisional", False))
            color, marker = style(row["method"])
            for c, k in enumerate(ks):
                if bufferless or row["K"] == k:
                    axes[r][c].plot(np.arange(len(curve)), curve, color=color, marker=marker, markersize=3,
                                    linestyle=":" if provisional else "--" if bufferless else "-",
                                    markerfacecolor="none" if provisional else color, label=_label(row))
        for c, k in enumerate(ks):
            axes[r][c].set_title(f"{LABELS[score]}" + ("" if k is None else f", K={k}"), fontsize=9)
            axes[-1][c].set_xlabel("after training on session t")
            axes[-1][c].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[r][0].set_ylabel("a[t][0]")
    _legend(figure, axes)
    return figure


def cd_file(k: str) -> str:
    """The critical-difference diagram's file of the K shown as ``k``: ``cd_k3.png``, ``cd_no_buffer.png`` for "-"."""
    return "cd_no_buffer.png" if k == "-" else f"cd_k{k}.png"


CD_POINTS = 9
"""The font size of a critical-difference diagram's labels."""
CD_LINE = 0.28
"""The height of one label's line in a critical-difference diagram, in inches."""


def critical_difference(family: Family):
    """The critical-difference diagram of a family with a Friedman test: the rows' average ranks
    on the axis (1, the best, on the left), each row's marker and elbow in its colour
    (:func:`style`) and its name and rank at the elbow's end, the better half on the left, a bar
    under the rows Nemenyi's test cannot tell apart; the margins sized in inches to the longest
    name, a line of its own for each name."""
    test = family.friedman
    rows = len(test.ranks)
    figure = _figure(1, 1)  # sized below, once the labels are measured
    axis = figure.subplots()
    artists = scikit_posthocs.critical_difference_diagram(
        test.ranks, test.nemenyi, alpha=ALPHA, ax=axis, label_fmt_left="{label} ({rank:.2f})",
        label_fmt_right="({rank:.2f}) {label}", label_props={"fontsize": CD_POINTS, "parse_math": False},
        color_palette={method: style(method)[0] for method in test.ranks.index}, text_h_margin=0.1)
    for label in artists["labels"]:
        label.set_color("0.15")  # the colour is the elbow's and the marker's: a light one is no text colour
    left = max(text_width(t.get_text(), CD_POINTS) for t in artists["labels"] if t.get_ha() == "right") / 72
    right = max((text_width(t.get_text(), CD_POINTS) for t in artists["labels"] if t.get_ha() == "left"),
                default=0.0) / 72
    bottom = min(t.get_position()[1] for t in artists["labels"])
    axis.set_xlim(1, rows)
    axis.set_ylim(bottom - 0.6, 0.3)
    axis.set_xticks(range(1, rows + 1))
    axis.tick_params(labelsize=8)
    where = "rows without a buffer" if family.k == "-" else f"K = {family.k}"
    title = (f"{header(*PRIMARY)}, {where}: average rank over {test.persons} persons (1 = best)\n{test}; "
             f"Nemenyi CD = {test.cd:.2f} at α = {ALPHA:.2g}")
    plot_width = max(3.0, 0.55 * (rows - 1))
    margins = (left + 0.3, right + 0.3)  # the labels beside the axis, and a gap
    title_width = max(text_width(line, 9) for line in title.split("\n")) / 72
    spare = max(0.0, title_width + 0.3 - sum(margins) - plot_width)
    width = sum(margins) + plot_width + spare
    height = CD_LINE * (0.9 - bottom) + 0.95  # the label lines, and the title and the ticks above
    figure.set_size_inches(width, height)
    start = margins[0] + spare / 2
    figure.subplots_adjust(left=start / width, right=(start + plot_width) / width, bottom=0.1 / height,
                           top=1 - 0.9 / height)
    figure.suptitle(title, fontsize=9, y=1 - 0.08 / height, va="top")
    return figure
