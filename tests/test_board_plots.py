"""The plots: their arithmetic, a method's colour, intervals that cannot swamp a panel,
provisional rows, and text that neither collides nor is clipped."""

import hashlib
import itertools

import numpy as np
import pandas as pd
import pytest
from matplotlib.container import ErrorbarContainer

from facebench.board import plots
from facebench.board.aggregate import COLUMNS, column
from facebench.board.load import Board
from facebench.board.plots import mean_matrix

nan = np.nan


def test_mean_matrix_averages_the_finite_entries_of_matrices_padded_to_the_largest_shape():
    sequential = np.array([[1.0, nan], [2.0, 4.0]])  # 2 x 2, null above the diagonal
    joint = np.array([[3.0, 5.0]])                    # 1 x 2
    longer = np.array([[5.0, nan, 7.0]])              # 1 x 3: wider than the others
    # padded to 2 x 3 with NaN; [0][0] = (1 + 3 + 5) / 3, [0][1] = 5 (the only finite entry),
    # [0][2] = 7, [1][0] = 2, [1][1] = 4, [1][2]: no finite entry
    expected = np.array([[3.0, 5.0, 7.0], [2.0, 4.0, nan]])
    np.testing.assert_array_equal(mean_matrix([sequential, joint, longer]), expected)


LONG = ("ewc decay_factor=1.0 ewc_lambda=100000.0", "lora-er-hull alpha=16.0 rank=4",
        "distill mix=3 samples=2 weight=1.0", "an-unbroken-method-name-longer-than-a-tile")


def table(rows) -> pd.DataFrame:
    """A board's table from (method, K, n, mean, half-width, provisional): every column the same."""
    records = []
    for method, k, n, mean, half, provisional in rows:
        record = {"K": k, "method": method, "strategy": method.split()[0], "n": n, "provisional": provisional}
        for score, summary in COLUMNS:
            record[column(score, summary)], record[column(score, summary) + "_ci95"] = mean, half
        records.append(record)
    return pd.DataFrame(records).astype({"K": "Int64"})


FULL = [("naive", None, 5, 2.6, 0.3, False), ("joint", None, 5, 2.3, 0.1, False),
        ("er-rand", 3, 5, 2.2, 0.1, False), ("er-rand", 5, 5, 2.1, 0.1, False),
        ("er-hull", 3, 5, 2.18, 0.1, False), ("er-hull", 5, 5, 2.13, 0.1, False)]


def line_colours(figure) -> dict[str, tuple]:
    return {line.get_label(): line.get_color() for axis in figure.axes for line in axis.get_lines()
            if not line.get_label().startswith("_")}


def test_a_methods_colour_comes_from_its_name_and_does_not_change_when_methods_are_added():
    colour, marker = plots.style("er-hull")
    number = int.from_bytes(hashlib.sha1(b"er-hull").digest()[:8], "big")
    assert colour == plots.PALETTE[number % 20] and marker == plots.MARKERS[number // 20 % len(plots.MARKERS)]
    before = line_colours(plots._against_k(table(FULL)))
    added = [("aaa-first-by-name", 3, 5, 2.0, 0.1, False), ("aaa-first-by-name", 5, 5, 1.9, 0.1, False),
             ("cumulative", None, 5, 2.1, 0.2, False)]
    after = line_colours(plots._against_k(table(added + FULL)))
    assert set(before) == {"naive", "joint", "er-rand", "er-hull"} and set(after) == set(before) | {
        "aaa-first-by-name", "cumulative"}
    assert all(after[label] == before[label] for label in before)


def test_a_provisional_rows_interval_does_not_swamp_the_panel():
    # er-new on 2 persons: its t(1) interval is +-50, 500 times the others'
    rows = FULL + [("er-new", 3, 2, 1.9, 50.0, True)]
    figure = plots._against_k(table(rows))
    for axis in figure.axes[:8]:
        low, high = axis.get_ylim()
        assert low > 1.5 and high < 3.2  # the full rows' means and intervals (1.9 .. 2.9), and a margin
    new = [line for axis in figure.axes[:8] for line in axis.get_lines() if line.get_label() == "er-new (provisional)"]
    assert len(new) == 8 and all(line.get_markerfacecolor() == "none" and line.get_linestyle() == ":" for line in new)


def test_no_interval_is_drawn_under_3_runs():
    rows = [(m, k, 2, mean, 5.0, False) for m, k, _, mean, _, _ in FULL]
    figure = plots._against_k(table(rows))
    assert not any(isinstance(c, ErrorbarContainer) for axis in figure.axes for c in axis.containers)
    assert not any(axis.patches for axis in figure.axes)  # no band around a reference either
    assert figure.axes[0].get_ylim()[1] < 3
    shown = plots._against_k(table(FULL))
    assert any(isinstance(c, ErrorbarContainer) for axis in shown.axes for c in axis.containers)


def fake_board(rows) -> tuple[Board, pd.DataFrame]:
    """A board in memory, one run per (method, K) of ``rows`` (its a[t][k]: random), and its table."""
    rng = np.random.default_rng(0)
    runs = []
    for method, k, *_ in rows:
        t, j = np.indices((10, 10))
        matrices = {score: np.where(j <= t, rng.random((10, 10)), np.nan) for score in plots.PLOTTED}
        runs.append({"method": method, "strategy": method.split()[0], "K": k, "person": "0", "seed": 0,
                     "matrices": matrices})
    frame = pd.DataFrame(runs).astype({"K": "Int64"})
    return Board("faceworld", "0" * 64, frame, (), 0, len(frame)), table(rows)


def _overlap(a, b) -> bool:
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


LONG_ROWS = [(name, k, 5, 2.0 + i / 10, 0.1, i == 1) for i, (name, k) in
             enumerate(itertools.product(LONG, (None, 3, 5, 10)))] + FULL


def test_matrix_titles_neither_collide_nor_cover_a_tile_nor_leave_the_figure():
    board, rows = fake_board(LONG_ROWS)
    figure = plots._matrices(board, rows, "recon_perceptual")
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    axis = figure.axes[0]
    titles = [text.get_window_extent(renderer) for text in axis.texts]
    assert len(titles) == len(rows)
    assert any("\n" in text.get_text() for text in axis.texts)  # the long names were wrapped
    assert not any(_overlap(a, b) for a, b in itertools.combinations(titles, 2))
    assert all(figure.bbox.x0 <= t.x0 and t.x1 <= figure.bbox.x1 and t.y1 <= figure.bbox.y1 for t in titles)
    cells = np.argwhere(np.isfinite(np.ma.filled(axis.images[0].get_array(), np.nan)))
    corners = axis.transData.transform(np.concatenate([cells[:, ::-1] - 0.5, cells[:, ::-1] + 0.5]))
    low, high = np.minimum(corners[: len(cells)], corners[len(cells):]), np.maximum(corners[: len(cells)],
                                                                                        corners[len(cells):])
    for t in titles:
        assert not ((low[:, 0] < t.x1) & (t.x0 < high[:, 0]) & (low[:, 1] < t.y1) & (t.y0 < high[:, 1])).any()


@pytest.mark.parametrize("draw", ["against_k", "session0"])
def test_the_legend_is_inside_the_figure_and_under_the_panels(draw):
    board, rows = fake_board(LONG_ROWS)
    figure = plots._against_k(rows) if draw == "against_k" else plots._session0(board, rows)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    legend = figure.legends[0].get_window_extent(renderer)
    box = figure.bbox
    assert box.x0 <= legend.x0 and legend.x1 <= box.x1 and box.y0 <= legend.y0 and legend.y1 <= box.y1
    assert all(legend.y1 < axis.get_tightbbox(renderer).y0 for axis in figure.axes)
    labels = [text.get_text() for text in figure.legends[0].get_texts()]
    assert f"{LONG[0]} (provisional)" in labels and f"{LONG[1]} (provisional)" not in labels and LONG[1] in labels
