"""facebench.board.diagnosis: per-session forgetting of the sessions in and out of the final
buffer, and its Spearman correlation with the session's distance to the final buffer's hull,
on fake result files whose per-session forgetting and hull distances are set by hand."""

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import fake_results
from facebench import metrics
from facebench.board import diagnosis as dg
from facebench.board import load as lb
from facebench.board import schema
from facebench.protocol import SCORES

SCENARIO = "faceworld"  # 10 sessions: sessions 0 .. 8 can be forgotten
T = 10


def _with_forgetting(document: dict, drops) -> dict:
    """``document`` with a primary-score matrix whose session j is forgotten by exactly ``drops[j]``
    (score units; j = 0 .. T-2): 0.1 on and below the diagonal, the last row 0.1 + drops[j]
    (the score is lower-is-better), summaries recomputed."""
    assert SCORES[dg.SCORE][0] == "lower"
    matrix = np.where(np.tri(T, dtype=bool), 0.1, np.nan)
    matrix[T - 1, : T - 1] += np.asarray(drops, dtype=float)
    document["scores"][dg.SCORE] = schema.score_entry(matrix, *SCORES[dg.SCORE])
    return document


def _run(folder, strategy, person, drops, final, distances, k=3, seed=0):
    """A replay run whose final buffer holds sessions ``final`` (padded to K items), its per-session
    forgetting ``drops`` and hull distances ``distances`` (one per session, T of them)."""
    held = [sorted(final)[min(i, len(final) - 1)] for i in range(k)]
    sessions = [[min(s, t) for s in held] for t in range(T - 1)] + [held]
    record = {"sessions": sessions, "items": [list(range(k))] * T, "hull_distance": [float(d) for d in distances]}
    document = fake_results.result(strategy, k, person, seed, SCENARIO, replay_buffer=record)
    path = fake_results.write(_with_forgetting(document, drops), folder)
    assert schema.validate(json.loads(path.read_text())) == []
    return path


#: Per person: per-session forgetting (score units), the sessions of the final buffer.
ER_RAND = {
    "0": ([0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09], {0, 4, 9}),
    "1": ([0.02, 0.02, 0.04, 0.04, 0.06, 0.06, 0.08, 0.08, 0.10], {1, 9}),
    "2": ([0.00, 0.01, 0.01, 0.03, 0.02, 0.05, 0.04, 0.07, 0.06], {2, 3, 9}),
}


def _rank_distances(drops):
    """Distances that rise with the forgetting (rho = 1): 1 + 10 * drop, the last session 0."""
    return [1.0 + 10 * d for d in drops] + [0.0]


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    out = tmp_path_factory.mktemp("diagnosis")
    for person, (drops, final) in ER_RAND.items():
        _run(out, "er-rand", person, drops, final, _rank_distances(drops))
        # er-hull: the same forgetting, distances that fall as it rises (rho = -1)
        _run(out, "er-hull", person, drops, final, [1.0 - 10 * d for d in drops] + [0.0])
    old = fake_results.result("er-rand", 3, "3", 0, SCENARIO, replay_buffer=None)  # migrated from /3: not recorded
    old["provenance"]["migrated_from"] = "facebench.result/3"
    fake_results.write(old, out)
    fake_results.write(fake_results.result("naive", None, "0", 0, SCENARIO), out)  # no buffer: no row
    return lb.load(out / SCENARIO)


def _by_hand(person: str) -> tuple[float, float]:
    """(mean f_j in, mean f_j out) of a run of ER_RAND, times the print scale."""
    drops, final = ER_RAND[person]
    f = np.asarray(drops) * dg.SCALE
    held = np.array([j in final for j in range(T - 1)])
    return float(f[held].mean()), float(f[~held].mean())


def test_per_session_forgetting_is_the_boards_forgetting_term_by_term():
    document = fake_results.result("er-rand", 3, "0", 0, SCENARIO)
    for name, entry in document["scores"].items():
        matrix = np.array(entry["matrix"], dtype=float)
        higher = SCORES[name][0] == "higher"
        f = dg.session_forgetting(matrix, higher)
        assert len(f) == T - 1 and math.isclose(f.mean(), metrics.forgetting(matrix, higher), rel_tol=1e-12)
    drops = ER_RAND["0"][0]
    matrix = np.array(_with_forgetting(document, drops)["scores"][dg.SCORE]["matrix"], dtype=float)
    assert np.allclose(dg.session_forgetting(matrix, False), drops)
    assert len(dg.session_forgetting(matrix[:1], False)) == 0  # a joint model forgets nothing


def test_in_and_out_of_the_final_buffer_and_their_paired_difference_are_the_hand_computed_ones(board):
    table = dg.diagnose(board)
    assert table[["K", "method"]].values.tolist() == [[3, "er-hull"], [3, "er-rand"]]  # replay rows only
    row = table[table["method"] == "er-rand"].iloc[0]
    assert (row["runs"], row["not_recorded"], row["n_in_out"], row["histories"]) == (4, 1, 3, 3)
    ins, outs = zip(*(_by_hand(person) for person in ER_RAND))
    assert row["forgetting_in"] == pytest.approx(np.mean(ins))
    assert row["forgetting_out"] == pytest.approx(np.mean(outs))
    d = np.subtract(ins, outs)
    assert row["difference"] == pytest.approx(d.mean())
    assert row["difference_ci95"] == pytest.approx(stats.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3))
    # person 0 by hand: in = sessions 0 and 4 (0.1, 0.5), out = the other seven (x10)
    assert _by_hand("0") == pytest.approx((0.3, (0.2 + 0.3 + 0.4 + 0.6 + 0.7 + 0.8 + 0.9) / 7))


def test_forgetting_rising_with_the_hull_distance_gives_rho_1(board):
    table = dg.diagnose(board).set_index("method")
    assert table.loc["er-rand", "n_rho"] == 3 and table.loc["er-rand", "rho_mean"] == pytest.approx(1.0)
    assert table.loc["er-rand", "rho_ci95"] == pytest.approx(0.0)
    assert table.loc["er-hull", "rho_mean"] == pytest.approx(-1.0)
    # pooled over every run's sessions (27): the distance is 1 + f (f times 10) in every run: still monotone
    assert table.loc["er-rand", "n_pooled"] == 27 and table.loc["er-rand", "rho_pooled"] == pytest.approx(1.0)
    sessions = dg.sessions_table(board)
    mine = sessions[sessions["method"] == "er-rand"]
    assert len(mine) == 27 and set(mine["person"]) == {"0", "1", "2"}  # person 3 not recorded
    assert mine["in_buffer"].sum() == 2 + 1 + 2  # sessions 9 are never counted


def test_a_run_with_every_session_in_the_buffer_has_no_difference_and_a_constant_one_no_rho(tmp_path):
    drops = [0.01] * (T - 1)
    _run(tmp_path, "er-rand", "0", drops, set(range(T)), _rank_distances(drops), k=10)
    [row] = dg.diagnose(lb.load(tmp_path / SCENARIO)).to_dict("records")
    assert (row["n_in_out"], row["n_rho"]) == (0, 0)
    assert all(math.isnan(row[name]) for name in ("difference", "forgetting_in", "rho_mean", "rho_pooled"))


def test_the_markdown_section_has_its_title_definitions_and_table(board):
    lines = dg.diagnosis_markdown(board)
    assert lines[0] == "## Why a policy wins or not: per-session diagnosis"
    assert "Spearman" in lines[2] and "hull" in lines[2] and "not recorded" in lines[2]
    table = [line for line in lines if line.startswith("| ")]
    assert table[0].startswith("| K | method | runs | not recorded |") and len(table) == 3
    er_rand = next(line for line in table if "er-rand" in line).split(" | ")
    assert er_rand[2:4] == ["4", "1"] and er_rand[8].startswith("1.000 ± 0.000")
    assert lines[-1].startswith("1 of 7 replay runs not recorded")


def test_a_board_of_old_files_says_not_recorded(tmp_path):
    for person in ("0", "1"):
        old = fake_results.result("er-hull", 3, person, 0, SCENARIO, replay_buffer=None)
        old["provenance"]["migrated_from"] = "facebench.result/3"
        fake_results.write(old, tmp_path)
    board = lb.load(tmp_path / SCENARIO)
    [row] = dg.diagnose(board).to_dict("records")
    assert (row["runs"], row["not_recorded"], row["n_in_out"], row["n_rho"]) == (2, 2, 0, 0)
    text = "\n".join(dg.diagnosis_markdown(board))
    assert not dg.recorded(board) and "| 3 | er-hull |" not in text
    assert "None of its 2 replay runs recorded its buffers" in text
    path = dg.plot_diagnosis(board, tmp_path / "empty.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_board_of_old_and_new_files_counts_the_old_as_not_recorded(tmp_path):
    old = fake_results.result("er-hull", 3, "0", 0, SCENARIO, replay_buffer=None)
    old["provenance"]["migrated_from"] = "facebench.result/3"
    fake_results.write(old, tmp_path)
    fake_results.write(fake_results.result("er-hull", 3, "1", 0, SCENARIO), tmp_path)
    board = lb.load(tmp_path / SCENARIO)
    text = "\n".join(dg.diagnosis_markdown(board))
    assert dg.recorded(board) and "| 3 | er-hull | 2 | 1 |" in text
    assert "1 of 2 replay runs not recorded" in text


def test_a_board_without_replay_rows_says_so(tmp_path):
    fake_results.write(fake_results.result("naive", None, "0", 0, SCENARIO), tmp_path)
    board = lb.load(tmp_path / SCENARIO)
    assert dg.diagnose(board).empty
    assert dg.diagnosis_markdown(board)[-1].startswith("No replay row")


def test_the_plot_is_a_png_with_a_panel_per_k(board, tmp_path):
    import matplotlib.image

    path = dg.plot_diagnosis(board, tmp_path / "plots" / "diagnosis.png")
    assert path == tmp_path / "plots" / "diagnosis.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    image = matplotlib.image.imread(path)
    assert image.shape[0] > 200 and image.shape[1] > 300 and image[..., :3].std() > 0.05  # drawn, not blank
    assert isinstance(dg.sessions_table(board), pd.DataFrame)
