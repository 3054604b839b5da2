"""facebench verify: a result file's run rerun and compared, score by score, within the protocol's tolerances."""

import json
from pathlib import Path

import pytest

import fake_results
from facebench.board import migrate, schema
from facebench.cli import main
from facebench.protocol import SCORES, TOLERANCES
from facebench.run import verify as verifying
from facebench.run.runner import RunSpec, run


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> Path:
    """A quick-card naive run of person 0."""
    return run(RunSpec("naive", {}, "faceworld-quick", "0", 0), tmp_path_factory.mktemp("runs"))


def test_a_run_verifies_against_its_rerun_on_the_same_machine(result, tmp_path, capsys):
    assert main(["verify", str(result), "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert f"all {3 * len(SCORES)} within the protocol's tolerances" in out
    rerun = json.loads(next((tmp_path / "runs").rglob("*.json")).read_text())
    mine = json.loads(result.read_text())
    assert rerun["scores"] == mine["scores"]  # same machine, same threads: the same numbers


def test_a_score_off_by_more_than_its_tolerance_fails(result):
    document = json.loads(result.read_text())
    changed = json.loads(result.read_text())
    entry = changed["scores"]["recon_perceptual"]
    entry["aip"] += 2 * TOLERANCES["recon_perceptual"] + 1e-6
    checks = verifying.compare(result, document, result, changed)
    failed = [(c.score, c.summary) for c in checks.checks if not c.passes]
    assert failed == [("recon_perceptual", "aip")] and not checks.passes


def test_a_file_of_other_photos_is_refused_before_any_rerun(result, tmp_path, monkeypatch):
    document = json.loads(result.read_text())
    document["provenance"]["images_sha256"] = "0" * 64
    path = tmp_path / "other.json"
    path.write_text(json.dumps(document))
    monkeypatch.setattr("facebench.run.runner.run", lambda *a, **k: pytest.fail("rerun started"))
    with pytest.raises(verifying.VerifyError, match=r"provenance.images_sha256: this machine's input differs"):
        verifying.verify(path, out=tmp_path / "out")


def test_a_file_of_an_earlier_protocol_version_says_which_commit_reruns_it(tmp_path):
    old = fake_results.result()
    old["schema"] = schema.PREVIOUS[1]
    old["protocol"] = old["protocol"]["settings"]
    del old["seed_varies"], old["buffer_history_sha256"], old["scores"]["synth_kid"]
    path = fake_results.write(migrate.upgrade(old), tmp_path)
    with pytest.raises(verifying.VerifyError, match=r"protocol version 1, but this facebench runs version 2; "
                                                    r"version 1 was last run by commit 20c46f1"):
        verifying.verify(path)


def test_an_invalid_file_is_refused_with_its_problem(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("{}")
    with pytest.raises(verifying.VerifyError, match=r"bad.json: not a valid result file"):
        verifying.verify(path)


def _board_of(result: Path, folder: Path) -> Path:
    """A folder with the run's file, a copy whose photos differ here, and a protocol-1 file."""
    (folder / "naive").mkdir(parents=True)
    (folder / "naive" / "person0-seed0.json").write_text(result.read_text())
    other = json.loads(result.read_text())
    other["provenance"]["images_sha256"] = "0" * 64
    (folder / "naive" / "person0-seed1.json").write_text(json.dumps(other))
    old = fake_results.result()
    old["protocol"]["version"] = 1
    (folder / "old").mkdir()
    (folder / "old" / "person0-seed0.json").write_text(json.dumps(old))
    return folder


def test_a_sample_draws_only_files_of_this_protocol_version_and_the_same_seed_draws_the_same(result, tmp_path):
    board = _board_of(result, tmp_path / "board")
    drawn = verifying.sample(board, 2, seed=3)
    assert sorted(p.parent.name for p in drawn) == ["naive", "naive"]
    assert verifying.sample(board, 1, seed=5) == verifying.sample(board, 1, seed=5)
    with pytest.raises(verifying.VerifyError, match=r"2 result files of protocol version 2 under it, fewer than the 3"):
        verifying.sample(board, 3)


def test_verify_sample_reruns_each_drawn_file_and_reports_one_that_cannot_be_rerun(result, tmp_path, capsys):
    board = _board_of(result, tmp_path / "board")
    assert main(["verify", str(board), "--sample", "2", "--out", str(tmp_path / "out")]) == 1
    out = capsys.readouterr().out
    assert "[1/2] rerunning" in out and "[2/2] rerunning" in out
    assert "NOT RERUN" in out and "images_sha256" in out
    assert "1 of 2 files within the protocol's tolerances" in out


def test_verify_refuses_a_folder_without_sample_and_a_file_with_it(result, tmp_path, capsys):
    assert main(["verify", str(tmp_path)]) == 2
    assert "give a result file, or a folder with --sample N" in capsys.readouterr().err
    assert main(["verify", str(result), "--sample", "2"]) == 2
    assert "this is not a folder" in capsys.readouterr().err
