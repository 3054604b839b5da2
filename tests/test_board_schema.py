"""The result schema's writer: make_result documents are valid, write_result refuses invalid ones."""

import json

import pytest

import fake_results
from facebench.board import schema
from facebench.errors import FacebenchError


def test_make_result_writes_a_valid_current_document(tmp_path):
    document = fake_results.result("cumulative", None)
    assert document["schema"] == "facebench.result/2" and document["strategy"]["kind"] == "cumulative"
    assert document["memory"] == {"items": None, "bytes": 0, "bytes_per_item": None}
    assert schema.validate(document) == []
    path = schema.write_result(tmp_path / "run.json", document)
    assert json.loads(path.read_text()) == document and path.read_text().endswith("}\n")
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temporary file left behind


@pytest.mark.parametrize("spoil, problem", [
    (lambda d: d.pop("memory"), "memory: missing"),
    (lambda d: d["strategy"].update(kind="replay"),
     "strategy.kind: must be 'sequential', 'cumulative' or 'joint', got 'replay'"),
    (lambda d: d["scores"]["recon_psnr"]["matrix"][0].__setitem__(0, float("nan")),
     "scores.recon_psnr.matrix[0][0]: not a finite number: nan"),
    (lambda d: d["memory"].update(bytes=-1), "memory.bytes: must be at least 0, got -1"),
], ids=["no memory", "unknown kind", "NaN", "negative bytes"])
def test_write_result_refuses_an_invalid_document_and_writes_nothing(tmp_path, spoil, problem):
    document = fake_results.result()
    spoil(document)
    path = tmp_path / "run.json"
    with pytest.raises(schema.ResultError) as refused:
        schema.write_result(path, document)
    assert isinstance(refused.value, FacebenchError)
    assert str(refused.value) == f"{path}: not written, the result is invalid: {problem}"
    assert list(tmp_path.iterdir()) == []


def test_write_result_leaves_an_existing_file_as_it_was_when_it_refuses(tmp_path):
    path = schema.write_result(tmp_path / "run.json", fake_results.result())
    before = path.read_bytes()
    with pytest.raises(schema.ResultError, match="seed: expected an integer, got '0'"):
        schema.write_result(path, {**fake_results.result(), "seed": "0"})
    assert path.read_bytes() == before


def test_a_joint_document_has_one_row_and_no_forgetting():
    document = fake_results.result("joint", None)
    entry = document["scores"]["recon_perceptual"]
    assert len(entry["matrix"]) == 1 and entry["forgetting"] is None and schema.validate(document) == []
    document["strategy"]["kind"] = "sequential"
    assert ("scores.recon_perceptual.matrix", "expected 3 x 3") in schema.validate(document)


def test_provenance_may_say_more_but_not_less():
    document = fake_results.result()
    document["provenance"]["host"] = "ci-7"
    assert schema.validate(document) == []
    document["provenance"]["git_commit"] = ""
    assert schema.validate(document) == [("provenance.git_commit", "not recorded")]
