"""Rendering a board of 1000 result files: load, validate, aggregate, write the tables and plots.

Budget (issue 5): at most 5 s. Timed with ``pytest --benchmark-enable -k benchmark_leaderboard``.
"""

import pytest

import fake_results
from facebench.board import load as lb
from facebench.board import render as tables

FILES = 1000
BUFFERED = ("er-rand", "er-hull", "kmeans", "reservoir")
STRATEGIES = {"naive": [None], "joint": [None], "cumulative": [None], **{s: [3, 5, 10] for s in BUFFERED}}


@pytest.fixture(scope="module")
def board_dir(tmp_path_factory):
    """1000 runs of the FaceWorld card (5 persons, 10 sessions): 15 rows of 5 persons x 13-14 seeds."""
    out = tmp_path_factory.mktemp("board")
    runs = [(s, k, p, seed) for s, sizes in STRATEGIES.items() for k in sizes for p in "01234" for seed in range(14)]
    for index, (strategy, k, person, seed) in enumerate(runs[:FILES]):
        fake_results.write(fake_results.result(strategy, k, person, seed, "faceworld", quality=index % 7 / 10), out)
    return out / "faceworld"


def render(folder, out):
    board = lb.load(folder)
    table = lb.aggregate(board)
    tables.write_board(board, table, out)
    return board, table


def test_render_a_board_of_1000_result_files(benchmark, board_dir, tmp_path):
    board, table = benchmark.pedantic(render, args=(board_dir, tmp_path), rounds=3, iterations=1)
    assert len(board.runs) == FILES and not board.skipped
    assert len(table) == 15 and table["n"].sum() == FILES
    assert (tmp_path / "LEADERBOARD.md").exists() and len(list((tmp_path / "plots").glob("*.png"))) == 6
