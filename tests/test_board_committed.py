"""The committed board is current: rendering its result files again gives its files, byte for byte."""

import shutil
from pathlib import Path

from facebench.board import load as lb
from facebench.board import render as tables

BOARD = Path(__file__).resolve().parents[1] / "leaderboards" / "faceworld"


def test_the_committed_board_renders_to_its_committed_files(tmp_path):
    shutil.copy(BOARD / tables.FINDINGS, tmp_path / tables.FINDINGS)  # LEADERBOARD.md ends with it
    board = lb.load(BOARD)
    assert not board.skipped and len(board.runs) == board.files
    tables.write_board(board, tables.board_table(board), tmp_path)
    for name in (lb.CSV, lb.JSON, lb.MARKDOWN):
        assert (tmp_path / name).read_bytes() == (BOARD / name).read_bytes(), name
