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
