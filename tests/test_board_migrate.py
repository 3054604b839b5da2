"""Migrating result files from facebench.result/1 and /2 to facebench.result/3 (``leaderboard --migrate``)."""

import json

import numpy as np
import pytest

import fake_results
from facebench import registry
from facebench.board import load as lb
from facebench.board import migrate, schema
from facebench.cli import main
from facebench.protocol import protocol_sha256

#: The registry as the migration sees it: strategy name -> kind.
KINDS = {"er-rand": "sequential", "joint": "joint", "cumulative": "cumulative"}


@pytest.fixture(autouse=True)
def strategies(monkeypatch):
    """The registry knows the strategies of KINDS only."""
    def get_strategy(name):
        if name not in KINDS:
            raise registry.StrategyError(f"unknown strategy '{name}'")
        return type("Entry", (), {"kind": KINDS[name]})

    monkeypatch.setattr(registry, "get_strategy", get_strategy)


def previous(strategy="er-rand", buffer_size=3, person="0", written=schema.PREVIOUS[0], **changes) -> dict:
    """A facebench.result/1 or /2 document as that schema wrote it: protocol version 1's scores
    and settings alone, nothing on seeding; /1 wrote a cumulative strategy's kind "sequential"."""
    data = fake_results.result(strategy, buffer_size, person)
    data["schema"] = written
    del data["seed_varies"], data["buffer_history_sha256"], data["scores"]["synth_kid"]
    data["protocol"] = V1_SETTINGS
    if written == schema.PREVIOUS[0]:
        data["strategy"]["kind"] = "joint" if strategy == "joint" else "sequential"
    data.update(changes)
    return data


V1_SETTINGS = {"steps_per_session": 50, "batch_new": 2, "batch_replay": 2, "lr": 0.0003, "l2_weight": 1.0,
               "anchor_steps": 60, "eval_steps": 10, "inversion_lr": 0.05, "synthesis_samples": 20, "synthesis_mix": 3}


@pytest.mark.parametrize("written", schema.PREVIOUS)
def test_a_previous_file_migrates_to_a_valid_current_one(tmp_path, capsys, written):
    old = previous(written=written)
    path = fake_results.write(old, tmp_path)
    assert lb.check(tmp_path) == [
        f"{path}: schema: '{written}', a previous schema: rewrite it as 'facebench.result/3' "
        "with `facebench leaderboard <its folder> --migrate`"]
    assert main(["leaderboard", str(tmp_path), "--migrate"]) == 0
    new = json.loads(path.read_text())
    assert schema.validate(new) == [] and lb.check(tmp_path) == []
    assert new["schema"] == schema.SCHEMA and new["provenance"]["migrated_from"] == written
    assert new["protocol"] == {"version": 1, "sha256": protocol_sha256(1, V1_SETTINGS), "settings": V1_SETTINGS}
    assert new["seed_varies"] is None and new["buffer_history_sha256"] is None
    unchanged = {**new, "schema": old["schema"], "provenance": old["provenance"], "protocol": old["protocol"]}
    del unchanged["seed_varies"], unchanged["buffer_history_sha256"]
    assert unchanged == old  # nothing else changed
    assert capsys.readouterr().out.splitlines() == [
        f"{path}: migrated from {written} to facebench.result/3",
        "1 result file: 1 migrated to facebench.result/3, 0 already facebench.result/3 (left alone), 0 not migrated"]


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
    assert done[0].lines() == [f"{cumulative}: migrated from facebench.result/1 to facebench.result/3, strategy.kind 'sequential' -> 'cumulative'"]


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
    assert (f"{path}: not migrated: memory: missing: facebench.result/3 requires what the strategy kept besides "
            "the model, which only a new run can record") in out
    assert "0 migrated to facebench.result/3, 0 already facebench.result/3 (left alone), 1 not migrated" in out


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
    path = fake_results.write(fake_results.result(), tmp_path)
    before = path.read_bytes()
    assert main(["leaderboard", str(tmp_path), "--migrate"]) == 0
    assert path.read_bytes() == before
    assert capsys.readouterr().out.splitlines() == [
        "1 result file: 0 migrated to facebench.result/3, 1 already facebench.result/3 (left alone), 0 not migrated"]


def test_a_file_of_neither_schema_is_reported(tmp_path):
    path = fake_results.write(previous(schema="facebench.result/0"), tmp_path)
    (tmp_path / "broken.json").write_text("{")
    broken, other = migrate.migrate(tmp_path)
    assert broken.outcome == other.outcome == migrate.REFUSED
    assert broken.lines()[0].startswith(f"{tmp_path / 'broken.json'}: not migrated: not valid JSON")
    assert other.lines() == [f"{path}: not migrated: schema: 'facebench.result/0', expected 'facebench.result/3'"]
