"""The leaderboard: validation of result files, aggregation with intervals, ranking, rendering."""

import hashlib
import io
import json
import math
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from rich.console import Console
from scipy import stats

import fake_results
from facebench.board import aggregate as ag
from facebench.board import load as lb
from facebench.board import render as tables
from facebench import registry
from facebench.board import schema
from facebench.board.provenance import method_code, mixed_lines
from facebench.board.compare import compare
from facebench.data.cards import Card, CardSchema
from facebench.cli import main
from facebench.protocol import SCORES

SCENARIO = "faceworld"  # 5 persons, 10 sessions: the board's persons 0-2 are its persons


@pytest.fixture(scope="module")
def board_dir(tmp_path_factory):
    """A valid board: naive, joint, er-rand and er-hull at K 3 and 5; persons 0-2, seed 0."""
    out = tmp_path_factory.mktemp("results")
    fake_results.write_board(out, scenario=SCENARIO)
    return out / SCENARIO


@pytest.fixture
def copy(board_dir, tmp_path):
    """A fresh copy of the valid board to spoil."""
    return shutil.copytree(board_dir, tmp_path / SCENARIO)


def read(path):
    return json.loads(path.read_text())


def test_mean_interval_is_the_student_t_interval():
    mean, half = ag.mean_interval([1.0, 2.0, 3.0])
    # t(0.975, 2) = 4.302653; s = 1; half-width = 4.302653 / sqrt(3)
    assert mean == 2.0 and half == pytest.approx(2.484138, abs=1e-6)
    mean, half = ag.mean_interval([0.7])
    assert mean == 0.7 and math.isnan(half)


def test_a_row_is_the_mean_over_persons_and_seeds_in_print_scale(board_dir):
    table = ag.aggregate(lb.load(board_dir))
    row = table[(table["method"] == "er-rand") & (table["K"] == 3)].iloc[0]
    values = [10 * read(p)["scores"]["recon_perceptual"]["aip"] for p in sorted((board_dir / "er-rand-k3").iterdir())]
    assert row["n"] == 3
    assert row["recon_perceptual_aip_x10"] == pytest.approx(np.mean(values))
    low, high = stats.t.interval(0.95, 2, loc=np.mean(values), scale=stats.sem(values))
    assert row["recon_perceptual_aip_x10_ci95"] == pytest.approx((high - low) / 2)
    psnr = [read(p)["scores"]["recon_psnr"]["aip"] for p in sorted((board_dir / "er-rand-k3").iterdir())]
    assert row["recon_psnr_aip"] == pytest.approx(np.mean(psnr))  # PSNR is printed as is
    joint = table[table["method"] == "joint"].iloc[0]
    assert math.isnan(joint["recon_perceptual_forgetting_x10"])  # one model forgets nothing: no number


def test_rows_are_ranked_within_each_k_by_reconstruction_aip_of_perceptual_distance(board_dir):
    table = ag.aggregate(lb.load(board_dir))
    assert [(ag.k_label(k), m, r) for k, m, r in zip(table["K"], table["method"], table["rank"])] == [
        ("-", "joint", 1), ("-", "naive", 2),
        ("3", "er-hull", 1), ("3", "er-rand", 2),
        ("5", "er-hull", 1), ("5", "er-rand", 2),
    ]
    for _, group in table.groupby("K", dropna=False):
        assert group["recon_perceptual_aip_x10"].is_monotonic_increasing


def test_a_row_of_one_run_has_no_interval_and_shows_it(tmp_path):
    fake_results.write_board(tmp_path, persons=("0",), scenario=SCENARIO)
    board = lb.load(tmp_path / SCENARIO)
    table = ag.aggregate(board)
    assert table["n"].eq(1).all() and table["recon_perceptual_aip_x10_ci95"].isna().all()
    assert " ± — |" in tables.markdown(board, table)
    rows = json.loads(tables.as_json(board, table))["rows"]
    assert rows[0]["recon_perceptual_aip_x10_ci95"] is None


def test_the_board_files_say_the_same_thing(board_dir, tmp_path):
    board = lb.load(board_dir)
    table = ag.aggregate(board)
    written = tables.write_board(board, table, tmp_path)
    names = {p.relative_to(tmp_path).as_posix() for p in written}
    assert {"LEADERBOARD.md", "leaderboard.csv", "leaderboard.json", "plots/aip_forgetting_vs_k.png",
            "plots/session0_over_time.png", "plots/matrix_recon_perceptual.png"} <= names
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written if p.suffix == ".png")
    csv = pd.read_csv(tmp_path / "leaderboard.csv")
    assert list(csv["method"]) == list(table["method"])
    assert np.allclose(csv["synth_frechet_aip"], table["synth_frechet_aip"])
    payload = json.loads((tmp_path / "leaderboard.json").read_text())
    assert payload["primary"] == "recon_perceptual_aip_x10" and payload["skipped"] == []
    assert [r["method"] for r in payload["rows"]] == list(table["method"])
    assert payload["rows"][0]["K"] is None and payload["rows"][2]["K"] == 3
    markdown = (tmp_path / "LEADERBOARD.md").read_text()
    best = table.iloc[2]
    cell = f"{best['recon_perceptual_aip_x10']:.2f} ± {best['recon_perceptual_aip_x10_ci95']:.2f}"
    assert f"| 3 | 1 | er-hull | a | 3 | {cell} |" in markdown  # group a: the best of K = 3
    assert "18 runs from 18 result files" in markdown
    # the board's own leaderboard.json beside the results is not read as a result
    shutil.copy(tmp_path / "leaderboard.json", board_dir / "leaderboard.json")
    try:
        assert lb.check(board_dir) == [] and len(lb.load(board_dir).runs) == 18
    finally:
        (board_dir / "leaderboard.json").unlink()


def test_the_terminal_table_has_a_section_per_k(board_dir):
    board = lb.load(board_dir)
    console = Console(file=io.StringIO(), width=220, record=True)
    console.print(tables.rich_table(board, ag.aggregate(board)))
    text = console.export_text()
    assert "faceworld leaderboard" in text and "rec. perceptual" in text and "forgetting ×10 ↓" in text
    assert [line.split()[:3] for line in text.splitlines() if line.split()[:1] in (["-"], ["3"], ["5"])] == [
        ["-", "1", "joint"], ["-", "2", "naive"], ["3", "1", "er-hull"], ["3", "2", "er-rand"],
        ["5", "1", "er-hull"], ["5", "2", "er-rand"]]


def test_a_valid_board_passes_the_check(board_dir):
    assert lb.check(board_dir) == []


# Each bad input: how to spoil er-rand-k3/person1-seed0.json (or the joint file), and the line.
def _set(field, value):
    def spoil(data):
        *parents, last = field.split(".")
        for key in parents:
            data = data[key]
        data[last] = value
    return spoil


def _restamp_card(data):
    data["scenario"]["card"]["resolution"] = 32
    data["scenario"]["card_sha256"] = Card(None, data["scenario"]["card"]).sha256


def _unset(field):
    def spoil(data):
        *parents, last = field.split(".")
        for key in parents:
            data = data[key]
        del data[last]
    return spoil


def _entry(score, t, k, value):
    def spoil(data):
        data["scores"][score]["matrix"][t][k] = value
    return spoil


def _drop_last_session(data):
    """The run as if its last session had not been run: 9 x 9 matrices and their summaries."""
    data["sessions"] = 9
    for name, entry in data["scores"].items():
        matrix = np.array(entry["matrix"], dtype=float)[:9, :9]
        data["scores"][name] = schema.score_entry(matrix, *SCORES[name])


BAD = {
    "other schema version": (_set("schema", "facebench.result/5"),
                             "schema: 'facebench.result/5', expected 'facebench.result/4'"),
    "previous schema version": (_set("schema", "facebench.result/2"),
                                "schema: 'facebench.result/2', a previous schema: rewrite it as "
                                "'facebench.result/4' with `facebench leaderboard <its folder> --migrate`"),
    "no memory": (_unset("memory"), "memory: missing"),
    "memory bytes as text": (_set("memory.bytes", "3 kB"), "memory.bytes: expected an integer, got '3 kB'"),
    "unknown kind": (_set("strategy.kind", "replay"),
                     "strategy.kind: must be 'sequential', 'cumulative', 'joint' or 'joint-so-far', got 'replay'"),
    "unknown key": (_set("comment", "rerun"), "comment: unknown key (not in facebench.result/4)"),
    "missing matrix entry": (_entry("recon_identity", 2, 1, None), "scores.recon_identity.matrix[2][1]: missing"),
    "value above the diagonal": (_entry("recon_identity", 0, 2, 0.5),
                                 "scores.recon_identity.matrix[0][2]: expected null above the diagonal, got 0.5"),
    "text in a matrix": (_entry("synth_frechet", 1, 1, "n/a"),
                         "scores.synth_frechet.matrix[1][1]: expected a number, got 'n/a'"),
    "not finite": (_entry("recon_psnr", 1, 0, float("inf")),
                   "scores.recon_psnr.matrix[1][0]: not a finite number: inf"),
    "summary that is not the matrix's": (_set("scores.recon_perceptual.aip", 0.01),
                                         "scores.recon_perceptual.aip: 0.01, but the matrix gives"),
    "wrong direction": (_set("scores.recon_identity.direction", "lower"),
                        "scores.recon_identity.direction: 'lower', expected 'higher'"),
    "card of another hash than the stock card": (_restamp_card, "differs from stock card 'faceworld'"),
    "card hash that is not the card's": (_set("scenario.card.resolution", 32),
                                         "is not the hash of the card in the file"),
    "no commit": (_set("provenance.git_commit", None), "provenance.git_commit: not recorded"),
    "no torch version": (_unset("provenance.torch"), "provenance.torch: missing"),
    "seed as text": (_set("seed", "0"), "seed: expected an integer, got '0'"),
    "seed beyond a run seed": (_set("seed", 2**32), f"seed: must be at most {2**32 - 1}, got {2**32}"),
    "not finite under a key with a dot": (_set("provenance.protocol", {"a.b": float("nan")}),
                                          "provenance.protocol['a.b']: not a finite number: nan"),
    "missing score": (_unset("scores.synth_identity"), "scores.synth_identity: missing"),
    # numbers are numbers: no string or boolean is read as one
    "number as text in a matrix": (_entry("recon_perceptual", 1, 0, "0.12"),
                                   "scores.recon_perceptual.matrix[1][0]: expected a number, got '0.12'"),
    "boolean in a matrix": (_entry("recon_perceptual", 1, 0, True),
                            "scores.recon_perceptual.matrix[1][0]: expected a number, got True"),
    "buffer_size as a boolean": (_set("strategy.params.buffer_size", True),
                                 "strategy.params.buffer_size: expected an integer, got True"),
    "buffer_size zero": (_set("strategy.params.buffer_size", 0),
                         "strategy.params.buffer_size: must be at least 1, got 0"),
    "buffer_size null": (_set("strategy.params.buffer_size", None), "strategy.params.buffer_size: not recorded"),
    "buffer_size beyond int64": (_set("strategy.params.buffer_size", 2**63),
                                 f"strategy.params.buffer_size: must be at most {2**63 - 1}, got {2**63}"),
    "a parameter that is a list": (_set("strategy.params.policy", ["hull"]),
                                   "strategy.params.policy: expected a string, a number, true, false or null, "
                                   "got ['hull']"),
    "memory items as a boolean": (_set("memory.items", True), "memory.items: expected an integer, got True"),
    "strategy name not a registry name": (_set("strategy.name", "ER Rand"),
                                          "strategy.name: must match ^[a-z0-9][a-z0-9._-]*$, got 'ER Rand'"),
    "card of another format": (_set("scenario.card.source.sessions", "10"),
                               "scenario.card.source.sessions: expected an integer, got '10'"),
    "text that is not text": (_set("provenance.host", "\ud800"),
                              "provenance.host: not text (a lone surrogate): '\\ud800'"),
    # a run is of its card: the card's sessions, one of the card's persons
    "the last session dropped": (_drop_last_session, "sessions: 9, but the card has 10 sessions"),
    "a person the card does not have": (_set("person", "7"),
                                        "person: '7' is not a person of the card ('0' .. '4')"),
    "a person written otherwise": (_set("person", "01"),
                                   "person: '01' is not a person of the card ('0' .. '4')"),
    # the defaults a run recorded are those of its parameters
    "a default of no parameter": (_set("strategy.defaults", {"policy": "er-hull"}),
                                  "strategy.defaults.policy: not a parameter of the run (strategy.params)"),
    "defaults null": (_set("strategy.defaults", None), "strategy.defaults: not recorded"),
}
TARGET = "er-rand-k3/person1-seed0.json"


@pytest.mark.parametrize("case", BAD)
def test_a_bad_file_fails_the_check_and_is_skipped_by_the_view(copy, case):
    spoil, expected = BAD[case]
    path = copy / TARGET
    data = read(path)
    spoil(data)
    fake_results.write(data, copy, TARGET)
    problems = lb.check(copy)
    assert len(problems) == 1 and problems[0].startswith(f"{path}: ") and expected in problems[0], problems
    _assert_skipped(copy, path, problems)


def _assert_skipped(folder, path, problems):
    board = lb.load(folder)
    assert board.skipped == tuple(problems) and board.skipped_files == 1 and board.files == 18 and len(board.runs) == 17
    table = ag.aggregate(board)
    row = table[(table["method"] == "er-rand") & (table["K"] == 3)].iloc[0]
    good = [read(p)["scores"]["recon_perceptual"]["aip"] * 10 for p in (folder / "er-rand-k3").iterdir() if p != path]
    assert row["n"] == 2 and row["recon_perceptual_aip_x10"] == pytest.approx(np.mean(good))
    assert "1 file skipped:" in tables.markdown(board, table)
    assert json.loads(tables.as_json(board, table))["skipped"] == list(problems)


def _rewrite(spoil):
    def write(path):
        data = read(path)
        spoil(data)
        path.write_text(json.dumps(data))
    return write


# Files that passed the check, then crashed leaderboard and compare (a TypeError; a
# RecursionError that crashed the check too).
CRASHED = {
    "buffer_size as text": (_rewrite(_set("strategy.params.buffer_size", "3")),
                            "strategy.params.buffer_size: expected an integer, got '3'"),
    "buffer_size as a fraction": (_rewrite(_set("strategy.params.buffer_size", 3.5)),
                                  "strategy.params.buffer_size: expected an integer, got 3.5"),
    "buffer_size in a list": (_rewrite(_set("strategy.params.buffer_size", [3])),
                              "strategy.params.buffer_size: expected an integer, got [3]"),
    "memory as text": (_rewrite(_set("memory", "lots")), "memory: expected an object, got 'lots'"),
    "memory items as text": (_rewrite(_set("memory.items", "abc")), "memory.items: expected an integer, got 'abc'"),
    "a 200,000-deep array": (lambda path: path.write_text("[" * 200_000 + "]" * 200_000),
                             "nested deeper than the 32 levels a result file may have"),
}


@pytest.mark.parametrize("case", CRASHED)
def test_a_file_that_crashed_the_board_fails_the_check_and_is_skipped_by_both_views(copy, case, capsys):
    write, expected = CRASHED[case]
    path = copy / TARGET
    write(path)
    problems = lb.check(copy)
    assert problems == [f"{path}: {expected}"]
    _assert_skipped(copy, path, problems)
    assert main(["compare", str(copy), "--against", str(copy), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["ranks"]
    assert compare(copy, copy).board.skipped == tuple(problems)


@pytest.mark.parametrize("text, expected", [
    (lambda full: full[: len(full) // 2], "not valid JSON (truncated or corrupt?)"),
    (lambda full: "{\x00garbage", "not valid JSON (truncated or corrupt?)"),
    (lambda full: "", "empty file"),
    (lambda full: "[1, 2]", "not a result file: expected a JSON object"),
    (lambda full: "[" * 33 + "]" * 33, "nested deeper than the 32 levels a result file may have"),
    (lambda full: "[" + "1" * 5000 + "]", "not valid JSON: Exceeds the limit (4300 digits)"),
    (lambda full: full.ljust(lb.MAX_BYTES + 1), f"{lb.MAX_BYTES + 1} bytes, over the {lb.MAX_BYTES}"),
], ids=["truncated", "corrupt", "empty", "not an object", "too deep", "too long an integer", "too large"])
def test_unreadable_json_is_named(copy, text, expected):
    path = copy / TARGET
    path.write_text(text(path.read_text()))
    problems = lb.check(copy)
    assert len(problems) == 1 and problems[0].startswith(f"{path}: {expected}"), problems
    _assert_skipped(copy, path, problems)


def test_a_file_exactly_as_deep_as_the_limit_is_read(tmp_path):
    path = tmp_path / "deep.json"
    path.write_text("[" * lb.MAX_DEPTH + "]" * lb.MAX_DEPTH)
    assert lb.depth(path.read_text()) == lb.MAX_DEPTH
    data, unreadable = lb.read(path)
    assert unreadable is None and json.dumps(data) == path.read_text()


def test_depth_counts_the_brackets_outside_strings_in_linear_time():
    assert lb.depth('{"a": "[[[{", "b": [[1], "\\"[", "]"]}') == 3
    started = time.perf_counter()
    assert lb.depth('"' + '\\"' * 1_000_000) == 0  # one unterminated string: read once, not once per quote
    assert time.perf_counter() - started < 5


def test_a_joint_matrix_must_be_one_row(copy):
    path = copy / "joint/person0-seed0.json"
    data = read(path)
    data["scores"]["recon_perceptual"]["matrix"] *= 3
    fake_results.write(data, copy, "joint/person0-seed0.json")
    assert lb.check(copy) == [f"{path}: scores.recon_perceptual.matrix: expected 1 x 10 (joint)"]


def test_another_scenario_mixed_in_is_named(copy):
    other = fake_results.write(fake_results.result("er-rand", 3, "0", 0, scenario="faceworld-quick"), copy.parent)
    moved = copy / "er-rand-k3" / "person0-seed9.json"
    other.rename(moved)
    problems = lb.check(copy)
    assert problems == [f"{moved}: scenario.name: 'faceworld-quick' mixed into a board of 'faceworld'"]
    board = lb.load(copy)
    assert board.scenario == SCENARIO and board.skipped == tuple(problems) and len(board.runs) == 18


@pytest.mark.parametrize("field, value, name", [("seed", 5, "person1-seed5.json"),
                                                ("person", "3", "person3-seed0.json")])
def test_a_run_copied_under_another_seed_or_person_is_named_with_its_original(copy, field, value, name):
    data = read(copy / TARGET)
    data[field] = value
    twin = fake_results.write(data, copy.parent)
    assert twin == copy / "er-rand-k3" / name
    assert lb.check(copy) == [f"{twin}: scores: every score matrix is that of {copy / TARGET}: a copy of its run "
                              "under another person, seed or strategy"]
    table = ag.aggregate(lb.load(copy))
    assert table[(table["method"] == "er-rand") & (table["K"] == 3)]["n"].tolist() == [3]  # not 4


def _folder_result(person: str, sessions: int) -> dict:
    """A valid run of a folder card, which lists no persons or sessions."""
    data = fake_results.result("er-rand", 3)
    card = CardSchema.model_validate({"source": {"kind": "folder", "root": "photos"}}).model_dump()
    data["scenario"] = {"name": "my-photos", "card": card, "card_sha256": Card(None, card).sha256}
    data["person"], data["sessions"] = person, sessions
    data["replay_buffer"] = fake_results.replay_record(sessions, 3, 20)
    rng = np.random.default_rng(list(person.encode()))
    data["scores"] = {name: schema.score_entry(matrix, *SCORES[name])
                      for name, matrix in fake_results.matrices(sessions, False, 0.0, 1.0, rng).items()}
    return data


def test_a_folder_board_keeps_the_number_of_sessions_of_most_of_its_files(tmp_path):
    for person, sessions in (("alice", 4), ("bob", 4), ("carol", 4), ("dave", 3)):
        fake_results.write(_folder_result(person, sessions), tmp_path, f"{person}.json")
    assert lb.check(tmp_path) == [f"{tmp_path / 'dave.json'}: sessions: 3 mixed into a board of 4 sessions"]
    board = lb.load(tmp_path)
    assert board.scenario == "my-photos" and sorted(board.runs["person"]) == ["alice", "bob", "carol"]


def test_a_duplicate_run_is_named_with_its_twin(copy):
    twin = copy / "er-rand-k3" / "rerun.json"
    shutil.copy(copy / TARGET, twin)
    assert lb.check(copy) == [
        f"{twin}: strategy: the same run (er-rand buffer_size=3, person 1, seed 0) as {copy / TARGET}"]
    assert len(lb.load(copy).runs) == 18


def test_a_run_is_named_by_the_parameters_that_differ_from_the_defaults_its_file_records(tmp_path):
    """From the file alone (no strategy 'herding' is installed): a file that records a parameter at
    its default is the method, and the run, of one that does not record it at all."""
    def herding(person, name, **strategy):
        data = fake_results.result("herding", 3, person, 0, SCENARIO)
        data["strategy"].update(strategy)
        return fake_results.write(data, tmp_path, name)

    herding("0", "old.json", params={"buffer_size": 3})  # before herding took use_history
    herding("1", "new.json", params={"buffer_size": 3, "use_history": True}, defaults={"use_history": True})
    herding("2", "other.json", params={"buffer_size": 3, "use_history": False}, defaults={"use_history": True})
    runs = lb.load(tmp_path).runs.sort_values("person")
    assert runs[["method", "K"]].values.tolist() == [
        ["herding", 3], ["herding", 3], ["herding use_history=False", 3]]
    twin = herding("0", "twin.json", params={"buffer_size": 3, "use_history": True}, defaults={"use_history": True})
    # a run of when herding's default was use_history=False: the same name, another configuration
    changed = herding("3", "zchanged.json", params={"buffer_size": 3, "use_history": False},
                      defaults={"use_history": False})
    assert lb.check(tmp_path) == [
        f"{twin}: strategy: the same run (herding buffer_size=3, person 0, seed 0) as {tmp_path / 'old.json'}",
        f"{changed}: strategy.params.use_history: False here, True in {tmp_path / 'new.json'}, and it names neither "
        "run: the strategy's default changed between them, so they are not one method (keep them on separate boards)"]


def test_no_result_files(tmp_path):
    assert lb.check(tmp_path) == [f"{tmp_path}: no result files (*.json) under it"]
    with pytest.raises(lb.LeaderboardError, match="no result files"):
        lb.load(tmp_path)
    with pytest.raises(lb.LeaderboardError, match="no such folder"):
        lb.load(tmp_path / "absent")


def test_a_folder_of_only_bad_files_makes_no_board(tmp_path):
    (tmp_path / "a.json").write_text("{")
    with pytest.raises(lb.LeaderboardError, match=r"no valid result file among 1: .*a.json: not valid JSON"):
        lb.load(tmp_path)


def test_check_command_exits_non_zero_and_names_each_problem(copy, capsys):
    assert main(["leaderboard", str(copy), "--check"]) == 0
    assert "18 result files, all valid" in capsys.readouterr().out
    (copy / TARGET).write_text("{")
    assert main(["leaderboard", str(copy), "--check"]) == 1
    out = capsys.readouterr().out
    assert f"{copy / TARGET}: not valid JSON" in out and "1 problem in 18 result files" in out


def test_check_warns_of_a_file_run_with_other_threads_and_still_passes(copy, capsys):
    """A run made with other threads, device or CPU than the rest is no problem, but a warning:
    its differences from the others hold the environment's share."""
    document = json.loads((copy / TARGET).read_text())
    usual = document["provenance"]["threads"]
    document["provenance"]["threads"] = usual + 7
    (copy / TARGET).write_text(json.dumps(document))
    audit = lb.audit(copy)
    assert audit.problems == [] and audit.warnings == [
        f"{copy / TARGET}: ran elsewhere: threads {usual + 7} (the board's: {usual})"]
    assert main(["leaderboard", str(copy), "--check"]) == 0
    assert f"warning: {copy / TARGET}: ran elsewhere: threads {usual + 7}" in capsys.readouterr().out


def _stamp(path, git_commit, **source):
    """Rewrite the result file at ``path`` as made from ``git_commit`` by the strategy source ``source``."""
    document = read(path)
    document["provenance"]["git_commit"] = git_commit
    document["provenance"]["strategy"].update(source)
    path.write_text(json.dumps(document))


def test_check_shows_the_code_behind_each_method_and_flags_a_method_of_two_sources(copy, capsys):
    """Per method: files, facebench commits, dirty files, strategy source hashes, packages; a
    method whose files come from two sources is flagged in red and warned of, the check still passes."""
    for path in sorted((copy / "er-hull-k3").iterdir()):
        _stamp(path, "c" * 40 + "-dirty", sha256="b" * 64, distribution="facebench-hull", version="0.2.0",
               commit="d" * 40 + "-dirty")
    for path in sorted((copy / "er-hull-k5").iterdir()):
        _stamp(path, "0" * 40)
    _stamp(copy / TARGET, "e" * 40, sha256="f" * 64)
    codes = {code.method: code for code in method_code(lb.audit(copy).valid)}
    assert sorted(codes) == ["er-hull", "er-rand", "joint", "naive"]
    hull, rand = codes["er-hull"], codes["er-rand"]
    assert (hull.files, hull.dirty, hull.commits) == (6, 3, ("0" * 40, "c" * 40))
    assert hull.sources == (("b" * 64, copy / "er-hull-k3/person0-seed0.json"),
                            ("a" * 64, copy / "er-hull-k5/person0-seed0.json")) and hull.mixed
    assert hull.packages == ("facebench-hull 0.2.0 @ " + "d" * 12 + "-dirty", "module fake.er-hull (no package)")
    assert rand.sources[1] == ("f" * 64, copy / TARGET) and rand.mixed
    assert not codes["naive"].mixed and codes["naive"].unrecorded == 0
    assert mixed_lines(list(codes.values()))[0] == (
        f"method er-hull: its files come from 2 strategy sources, not one code: {'b' * 12} "
        f"({copy / 'er-hull-k3/person0-seed0.json'}), {'a' * 12} ({copy / 'er-hull-k5/person0-seed0.json'})")

    assert main(["leaderboard", str(copy), "--check"]) == 0
    out = capsys.readouterr().out
    assert "code of the runs, per method" in out and "3 of 6" in out and "b" * 12 in out
    assert "warning: method er-rand: its files come from 2 strategy sources" in out


def test_a_strategy_of_a_plugin_installed_editable_records_its_checkouts_commit(tmp_path, monkeypatch):
    """source() of a plugin installed with ``pip install -e`` (a direct_url.json, PEP 610) names
    the commit of the plugin's checkout, "-dirty" once a file there differs from it."""
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")
    checkout, site = tmp_path / "facebench-hull", tmp_path / "site"
    (checkout / "fbhull").mkdir(parents=True)
    (checkout / "fbhull" / "__init__.py").write_text(
        "from facebench.replay import ReplayBuffer\n\n\nclass Hull(ReplayBuffer):\n"
        "    def select(self, pool, k, rng):\n        return []\n")
    info = site / "facebench_hull-0.2.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: facebench-hull\nVersion: 0.2.0\n")
    (info / "top_level.txt").write_text("fbhull\n")
    (info / "direct_url.json").write_text(json.dumps({"url": checkout.as_uri(), "dir_info": {"editable": True}}))
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "hull"]):
        subprocess.run([git, "-C", str(checkout), *command], check=True, env={**os.environ, **env})
    head = subprocess.run([git, "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.syspath_prepend(str(checkout))
    registry._distributions.cache_clear()  # read once per process: again, with the plugin installed
    try:
        from fbhull import Hull

        entry = registry.StrategyEntry("hull", Hull, "sequential", "", (), "test")
        assert entry.source() == {"module": "fbhull", "sha256": hashlib.sha256(
            (checkout / "fbhull" / "__init__.py").read_bytes()).hexdigest(), "distribution": "facebench-hull",
            "version": "0.2.0", "commit": head}
        (checkout / "notes.txt").write_text("not committed")
        registry._checkout_commit.cache_clear()
        assert entry.source()["commit"] == head + "-dirty"
    finally:
        registry._distributions.cache_clear()
        registry._checkout_commit.cache_clear()
        sys.modules.pop("fbhull", None)


def test_leaderboard_command_prints_the_format_and_writes_the_files(copy, tmp_path, capsys):
    (copy / TARGET).write_text("{")
    out = tmp_path / "board"
    assert main(["leaderboard", str(copy), "--format", "csv", "--out", str(out)]) == 0
    printed = capsys.readouterr()
    assert pd.read_csv(io.StringIO(printed.out))["n"].tolist() == [3, 3, 3, 2, 3, 3]
    assert "1 file skipped:" in printed.err and f"{copy / TARGET}: not valid JSON" in printed.err
    assert (out / "LEADERBOARD.md").exists() and (out / "plots" / "session0_over_time.png").exists()


def test_kept_memory_cells():
    assert tables.memory_cell(3.0, 3 * 49664.0) == "3 × 49.7 kB"
    assert tables.memory_cell(float("nan"), 3139640.0) == "3.14 MB"
    assert tables.memory_cell(float("nan"), 0.0) == "0 B"


def test_leaderboard_md_ends_with_the_boards_findings(board_dir, tmp_path):
    (tmp_path / "FINDINGS.md").write_text("## Findings\n\nER-Hull forgets least.\n")
    board = lb.load(board_dir)
    tables.write_board(board, ag.aggregate(board), tmp_path)
    page = (tmp_path / "LEADERBOARD.md").read_text()
    assert page.startswith("# Leaderboard") and page.endswith("## Findings\n\nER-Hull forgets least.\n")
    assert "kept memory" in page.splitlines()[2]


@pytest.mark.parametrize("field, value, words", [
    ("images_sha256", "e" * 64, "provenance.images_sha256: other images of person 1 than the board's other runs "
                                "of that person (000000000000); same card, other photos"),
    ("models", {"generator": "x" * 64}, "provenance.models: other generic models than the rest of the board's runs"),
])
def test_a_run_on_other_photos_or_other_models_is_named(copy, field, value, words):
    data = read(copy / TARGET)
    data["provenance"][field] = value
    (copy / TARGET).write_text(json.dumps(data))
    assert lb.check(copy) == [f"{copy / TARGET}: {words}"]


# Coverage: provisional rows. ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    """persons 0-4 of naive, er-rand K=3 and er-hull K=3 (seeds 0 and 1), and er-new K=3 on
    persons 0 and 1 only, far better than the others."""
    out = tmp_path_factory.mktemp("merged")
    persons = ("0", "1", "2", "3", "4")
    fake_results.write_board(out, {"naive": ([None], 0.0, 3.0), "er-rand": ([3], 1.0, 1.5),
                                   "er-hull": ([3], 1.5, 1.0)}, persons=persons, scenario=SCENARIO)
    fake_results.write_board(out, {"er-hull": ([3], 1.5, 1.0)}, persons=persons, seeds=(1,), scenario=SCENARIO)
    fake_results.write_board(out, {"er-new": ([3], 4.0, 0.2)}, persons=("0", "1"), scenario=SCENARIO)
    return out / SCENARIO


def test_a_row_missing_persons_is_provisional_and_ranked_after_the_full_rows(merged, tmp_path):
    board = lb.load(merged)
    table = ag.aggregate(board)
    at3 = table[table["K"] == 3]
    # er-new has the best mean (over its 2 easy persons) and still comes last, unranked
    assert at3["method"].tolist() == ["er-hull", "er-rand", "er-new"]
    assert at3["rank"].tolist()[:2] == [1, 2] and pd.isna(at3["rank"].iloc[2])
    assert at3["recon_perceptual_aip_x10"].iloc[2] < at3["recon_perceptual_aip_x10"].iloc[0]
    assert at3["provisional"].tolist() == [False, False, True]
    # er-hull ran a second seed: more than the grid (5 persons x seed 0), still full
    assert at3["coverage"].tolist() == ["5/5 persons, seeds {0, 1}", "5/5 persons, seeds {0}",
                                        "2/5 persons, seeds {0}"]
    tables.write_board(board, table, tmp_path)
    page = (tmp_path / "LEADERBOARD.md").read_text()
    assert "| 3 | — | er-new (provisional: 2/5 persons, seeds {0}) |  | 2 |" in page  # no group: unranked
    assert "The board's grid: 5 persons × seeds {0}." in page
    csv = pd.read_csv(tmp_path / "leaderboard.csv")
    assert csv.loc[csv["method"] == "er-new", "provisional"].tolist() == [True]
    assert csv.loc[csv["method"] == "er-new", "rank"].isna().all() and csv["provisional"].sum() == 1
    payload = json.loads((tmp_path / "leaderboard.json").read_text())
    new = [row for row in payload["rows"] if row["method"] == "er-new"]
    assert new[0]["rank"] is None and new[0]["provisional"] and new[0]["coverage"] == "2/5 persons, seeds {0}"
    assert payload["grid"] == {"persons": ["0", "1", "2", "3", "4"], "seeds": [0]}


def test_the_grid_is_every_person_and_the_seeds_most_rows_ran():
    runs = pd.DataFrame({"K": pd.array([3] * 4 + [5] * 2 + [None] * 2, dtype="Int64"),
                         "method": ["a"] * 4 + ["a"] * 2 + ["b"] * 2,
                         "person": ["0", "1", "0", "1", "0", "10", "2", "0"],
                         "seed": [0, 0, 1, 1, 7, 7, 0, 0]})
    grid = ag.grid(runs)
    # persons in natural order; seed 0: 2 of 3 rows, seed 1: 1, seed 7: 1
    assert grid.persons == ("0", "1", "2", "10") and grid.seeds == (0,)
    covered = ag.coverage({("0", 0), ("1", 0), ("2", 0), ("10", 1)}, grid)
    assert covered.provisional and str(covered) == (
        "4/4 persons, seeds {0, 1}, 1 of the board's 4 (person, seed) pairs missing")
    assert not ag.coverage(grid.pairs | {("0", 3)}, grid).provisional
    # no seed in more than half of the rows: no seed to hold a row to, only the persons
    tie = ag.grid(runs.assign(seed=[0, 0, 0, 0, 7, 7, 9, 9]))
    assert tie.seeds == () and str(tie) == "4 persons, any seed"
    assert not ag.coverage({("0", 7), ("1", 9), ("2", 0), ("10", 0)}, tie).provisional
    assert str(ag.coverage({("0", 7), ("1", 7)}, tie)) == "2/4 persons, seeds {7}"
    assert ag.coverage({("0", 7), ("1", 7)}, tie).provisional
