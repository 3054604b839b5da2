"""Migrating result files (``leaderboard --migrate``): from facebench.result/1, /2 and /3 to facebench.result/4,
their strategy's defaults recorded, each moved to the folder of its run's name."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import fake_results
from facebench import registry
from facebench.board import load as lb
from facebench.board import migrate, schema
from facebench.board.aggregate import aggregate
from facebench.cli import main
from facebench.protocol import protocol_sha256

#: The registry as the migration sees it: strategy name -> (kind, defaults).
STRATEGIES = {"er-rand": ("sequential", {}), "joint": ("joint", {}), "cumulative": ("cumulative", {}),
              "ewc": ("sequential", {"ewc_lambda": 1e5, "decay_factor": 1.0, "added_later": True})}


@pytest.fixture(autouse=True)
def strategies(monkeypatch):
    """The registry knows the strategies of STRATEGIES only."""
    def get_strategy(name):
        if name not in STRATEGIES:
            raise registry.StrategyError(f"unknown strategy '{name}'")
        kind, defaults = STRATEGIES[name]
        return type("Entry", (), {"kind": kind, "defaults": defaults})

    monkeypatch.setattr(registry, "get_strategy", get_strategy)


def previous(strategy="er-rand", buffer_size=3, person="0", written=schema.PREVIOUS[0], **changes) -> dict:
    """A facebench.result/1 or /2 document as that schema wrote it: protocol version 1's scores
    and settings alone, nothing on seeding; /1 wrote a cumulative strategy's kind "sequential"."""
    data = fake_results.result(strategy, buffer_size, person)
    data["schema"] = written
    del data["seed_varies"], data["buffer_history_sha256"], data["replay_buffer"], data["scores"]["synth_kid"]
    data["protocol"] = V1_SETTINGS
    if written == schema.PREVIOUS[0]:
        data["strategy"]["kind"] = "joint" if strategy == "joint" else "sequential"
    data.update(changes)
    return data


V1_SETTINGS = {"steps_per_session": 50, "batch_new": 2, "batch_replay": 2, "lr": 0.0003, "l2_weight": 1.0,
               "anchor_steps": 60, "eval_steps": 10, "inversion_lr": 0.05, "synthesis_samples": 20, "synthesis_mix": 3}


@pytest.mark.parametrize("written", schema.PREVIOUS[:2])
def test_a_previous_file_migrates_to_a_valid_current_one(tmp_path, capsys, written):
    old = previous(written=written)
    path = fake_results.write(old, tmp_path)
    assert lb.check(tmp_path) == [
        f"{path}: schema: '{written}', a previous schema: rewrite it as 'facebench.result/4' "
        "with `facebench leaderboard <its folder> --migrate`"]
    assert main(["leaderboard", str(tmp_path), "--migrate"]) == 0
    new = json.loads(path.read_text())
    assert schema.validate(new) == [] and lb.check(tmp_path) == []
    assert new["schema"] == schema.SCHEMA and new["provenance"]["migrated_from"] == written
    assert new["protocol"] == {"version": 1, "sha256": protocol_sha256(1, V1_SETTINGS), "settings": V1_SETTINGS}
    assert new["seed_varies"] is None and new["buffer_history_sha256"] is None and new["strategy"]["defaults"] == {}
    assert new["replay_buffer"] is None and list(new) == list(fake_results.result())  # in the schema's order
    unchanged = {**new, "schema": old["schema"], "provenance": old["provenance"], "protocol": old["protocol"],
                 "strategy": old["strategy"]}
    del unchanged["seed_varies"], unchanged["buffer_history_sha256"], unchanged["replay_buffer"]
    assert unchanged == old and new["strategy"] == {**old["strategy"], "defaults": {}}  # nothing else changed
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: migrated from {written} to facebench.result/4; strategy.defaults recorded: none",
        "1 result file: 1 migrated, 0 already current (left alone), 0 not (fully) migrated"]


def result_3(strategy="er-rand", buffer_size=3, person="0", **changes) -> dict:
    """A facebench.result/3 document as that schema wrote it: a current one without ``replay_buffer``."""
    data = fake_results.result(strategy, buffer_size, person)
    data["schema"] = schema.PREVIOUS[2]
    data["strategy"]["defaults"] = {}  # recorded: the schema alone migrates
    del data["replay_buffer"]
    data.update(changes)
    return data


def test_a_result_3_file_migrates_with_its_replay_record_not_recorded_and_nothing_else_changed(tmp_path, capsys):
    replay, naive = result_3(), result_3("naive", None, "1")
    first = fake_results.write(replay, tmp_path)
    second = fake_results.write(naive, tmp_path)
    assert lb.check(tmp_path) == [
        f"{path}: schema: 'facebench.result/3', a previous schema: rewrite it as 'facebench.result/4' "
        "with `facebench leaderboard <its folder> --migrate`" for path in (first, second)]
    assert main(["leaderboard", str(tmp_path), "--migrate"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        f"{first}: migrated from facebench.result/3 to facebench.result/4",
        f"{second}: migrated from facebench.result/3 to facebench.result/4",
        "2 result files: 2 migrated, 0 already current (left alone), 0 not (fully) migrated"]
    assert lb.check(tmp_path) == []
    for path, old in ((first, replay), (second, naive)):
        new = json.loads(path.read_text())
        assert new["schema"] == schema.SCHEMA and new["replay_buffer"] is None
        assert new["provenance"] == {**old["provenance"], "migrated_from": "facebench.result/3"}
        assert {**new, "schema": old["schema"], "provenance": old["provenance"]} == {**old, "replay_buffer": None}
        assert list(new) == list(fake_results.result())  # the key where the schema writes it
    # seed_varies and the buffer history, which /3 recorded, are kept
    assert json.loads(first.read_text())["buffer_history_sha256"] == replay["buffer_history_sha256"] is not None
    board = lb.load(tmp_path)
    assert board.runs["replay_buffer"].tolist() == [None, None]
    assert {m.outcome for m in migrate.migrate(tmp_path)} == {migrate.CURRENT}  # once is enough


def test_a_result_3_file_migrated_from_1_keeps_where_it_came_from():
    old = migrate.upgrade(previous())
    old["schema"] = schema.PREVIOUS[2]
    del old["replay_buffer"]
    new = migrate.upgrade(old)
    assert new["provenance"]["migrated_from"] == schema.PREVIOUS[0] and schema.validate(new) == []


def test_a_migrated_file_cannot_be_mixed_with_current_runs(tmp_path):
    migrated = fake_results.write(migrate.upgrade(previous(written=schema.PREVIOUS[1])), tmp_path / "a")
    fake_results.write(fake_results.result(person="0"), tmp_path / "b")
    fake_results.write(fake_results.result(person="1"), tmp_path / "c")
    [line] = lb.check(tmp_path)
    assert line.startswith(f"{migrated}: protocol.version: 1 mixed into a board of protocol version 2; a board "
                           "ranks runs of one protocol: rerun it with the facebench that runs version 2")


def test_a_cumulative_run_gets_kind_cumulative_and_a_joint_one_stays_joint(tmp_path):
    cumulative = fake_results.write(previous("cumulative", None), tmp_path)
    joint = fake_results.write(previous("joint", None), tmp_path)
    done = migrate.migrate(tmp_path)
    assert [(m.path, m.outcome, m.kind) for m in done] == [
        (cumulative, migrate.MIGRATED, ("sequential", "cumulative")), (joint, migrate.MIGRATED, ("joint", "joint"))]
    assert json.loads(cumulative.read_text())["strategy"]["kind"] == "cumulative"
    assert done[0].lines() == [f"{cumulative}: migrated from facebench.result/1 to facebench.result/4, strategy.kind "
                               "'sequential' -> 'cumulative'; strategy.defaults recorded: none"]


def test_an_unregistered_strategy_keeps_its_kind():
    upgraded = migrate.upgrade(previous("er-new"))
    assert upgraded["strategy"]["kind"] == "sequential" and schema.validate(upgraded) == []


def test_a_previous_file_without_memory_is_reported_and_left_untouched(tmp_path, capsys):
    old = previous()
    del old["memory"]
    path = fake_results.write(old, tmp_path)
    before = path.read_bytes()
    assert main(["leaderboard", str(tmp_path), "--migrate"]) == 1
    assert path.read_bytes() == before
    out = capsys.readouterr().out
    assert (f"{path}: not migrated: memory: missing: facebench.result/4 requires what the strategy kept besides "
            "the model, which only a new run can record") in out
    assert "0 migrated, 0 already current (left alone), 1 not (fully) migrated" in out


def test_an_invalid_previous_file_is_reported_with_its_problems_and_left_untouched(tmp_path):
    old = previous()
    old["scores"]["recon_psnr"]["aip"] = 1.0
    path = fake_results.write(old, tmp_path)
    before = path.read_bytes()
    [done] = migrate.migrate(tmp_path)
    assert done.outcome == migrate.REFUSED and path.read_bytes() == before
    right = schema.summaries(np.array(old["scores"]["recon_psnr"]["matrix"], dtype=float), "higher")["aip"]
    assert done.lines() == [f"{path}: not migrated: scores.recon_psnr.aip: 1.0, but the matrix gives {right!r}"]


def test_a_current_file_is_left_alone(tmp_path, capsys):
    data = fake_results.result()
    data["strategy"]["defaults"] = {}
    path = fake_results.write(data, tmp_path)
    before = path.read_bytes()
    assert main(["leaderboard", str(tmp_path), "--migrate"]) == 0
    assert path.read_bytes() == before
    assert capsys.readouterr().out.splitlines() == [
        "1 result file: 0 migrated, 1 already current (left alone), 0 not (fully) migrated"]


def test_a_file_of_neither_schema_is_reported(tmp_path):
    path = fake_results.write(previous(schema="facebench.result/0"), tmp_path)
    (tmp_path / "broken.json").write_text("{")
    broken, other = migrate.migrate(tmp_path)
    assert broken.outcome == other.outcome == migrate.REFUSED
    assert broken.lines()[0].startswith(f"{tmp_path / 'broken.json'}: not migrated: not valid JSON")
    assert other.lines() == [f"{path}: not migrated: schema: 'facebench.result/0', expected 'facebench.result/4'"]


EWC = {"ewc_lambda": 1e5, "decay_factor": 1.0}  # ewc's defaults, as its old files recorded them
OLD_FOLDER = "ewc-decayfactor1.0-ewclambda100000.0"  # its folder then: every parameter


def ewc_run(folder, person="0", seed=0, quality=0.0, name=None, **params) -> Path:
    """An ewc result file as the runner wrote it before it recorded the defaults (under ``folder/<scenario>``)."""
    data = fake_results.result("ewc", None, person, seed, quality=quality)
    data = fake_results.with_params(data, **{**EWC, **params})
    return fake_results.write(data, folder, name)


def test_a_run_named_with_its_defaults_is_renamed_and_moved_to_the_folder_of_its_new_name(tmp_path, capsys):
    old = [ewc_run(tmp_path, person, seed) for person, seed in (("0", 0), ("1", 0), ("0", 1))]
    tuned = ewc_run(tmp_path, "0", quality=1.0, ewc_lambda=1e4)
    elsewhere = ewc_run(tmp_path, "1", 1, name="faceworld-quick/mine/ewc.json")  # not where the runner writes
    board = tmp_path / "faceworld-quick"
    assert old[0].parent.name == OLD_FOLDER and tuned.parent.name == "ewc-decayfactor1.0-ewclambda10000.0"
    before = lb.load(board)
    assert sorted(set(before.runs["method"])) == ["ewc decay_factor=1.0 ewc_lambda=10000.0",
                                                  "ewc decay_factor=1.0 ewc_lambda=100000.0"]
    assert main(["leaderboard", str(board), "--migrate"]) == 0
    moved = board / "ewc" / old[0].name
    lines = capsys.readouterr().out.splitlines()
    assert f"{old[0]}: strategy.defaults recorded: ewc_lambda=100000.0, decay_factor=1.0; moved to {moved}" in lines
    assert f"{elsewhere}: strategy.defaults recorded: ewc_lambda=100000.0, decay_factor=1.0" in lines
    assert lines[-1] == "5 result files: 5 migrated, 0 already current (left alone), 0 not (fully) migrated"
    assert sorted(p.relative_to(board).as_posix() for p in lb.result_files(board)) == [
        "ewc-ewclambda10000.0/person0-seed0.json", "ewc/person0-seed0.json", "ewc/person0-seed1.json",
        "ewc/person1-seed0.json", "mine/ewc.json"]
    assert not old[0].parent.exists()  # the old folder, empty, is gone
    data = json.loads(moved.read_text())
    assert data["strategy"]["params"] == EWC and data["strategy"]["defaults"] == EWC  # of its parameters only
    after = lb.load(board)
    assert sorted(set(after.runs["method"])) == ["ewc", "ewc ewc_lambda=10000.0"]
    numbers = [aggregate(b).drop(columns="method") for b in (before, after)]
    pd.testing.assert_frame_equal(*numbers)  # the same rows, in the same order: only their names changed
    assert {m.outcome for m in migrate.migrate(board)} == {migrate.CURRENT}  # once is enough


def test_a_file_is_named_from_its_recorded_defaults_alone_and_never_moved_onto_another(tmp_path, capsys):
    herding = fake_results.with_params(fake_results.result("herding", 3, "1"), use_history=True)
    herding["strategy"]["defaults"] = {"use_history": True}  # recorded by the run: no registry needed
    path = fake_results.write(herding, tmp_path)
    assert path.parent.name == "herding-k3-usehistoryTrue"
    [done] = migrate.migrate(tmp_path)
    assert (done.outcome, done.moved) == (migrate.MIGRATED, tmp_path / "faceworld-quick" / "herding-k3" / path.name)
    assert lb.load(tmp_path).runs[["method", "K"]].values.tolist() == [["herding", 3]]

    old = ewc_run(tmp_path)
    new = fake_results.with_params(fake_results.result("ewc", None, "0"), **EWC)
    new["strategy"]["defaults"] = EWC
    taken = fake_results.write(new, tmp_path, f"faceworld-quick/ewc/{old.name}")  # a new run of the same
    assert main(["leaderboard", str(tmp_path), "--migrate"]) == 1
    assert capsys.readouterr().out.splitlines()[:2] == [
        f"{old}: strategy.defaults recorded: ewc_lambda=100000.0, decay_factor=1.0",
        f"{old}: not migrated: not moved to {taken}: a file is there already"]
    assert old.exists() and taken.exists()
    assert lb.check(tmp_path) == [f"{old}: strategy: the same run (ewc, person 0, seed 0) as {taken}"]


def test_a_file_of_a_strategy_not_installed_keeps_every_parameter_in_its_name_and_says_so(tmp_path, capsys):
    path = fake_results.write(fake_results.with_params(fake_results.result("herding", 3), use_history=True), tmp_path)
    before = path.read_bytes()
    assert main(["leaderboard", str(tmp_path), "--migrate"]) == 1
    assert path.read_bytes() == before
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: not migrated: strategy.defaults: not recorded: strategy 'herding' is not installed here, so every "
        "parameter names its runs; install it and migrate again",
        "1 result file: 0 migrated, 0 already current (left alone), 1 not (fully) migrated"]
    assert lb.load(tmp_path).runs["method"].tolist() == ["herding use_history=True"]
