"""The result schema's writer: make_result documents are valid, write_result refuses invalid ones."""

import json
import re

import pytest

import fake_results
from facebench.board import schema
from facebench.errors import FacebenchError
from facebench.protocol import SCORES, SCORES_OF_VERSION, VERSION, Protocol, protocol_sha256


def test_make_result_writes_a_valid_current_document(tmp_path):
    document = fake_results.result("cumulative", None)
    assert document["schema"] == "facebench.result/4" and document["strategy"]["kind"] == "cumulative"
    assert document["protocol"] == Protocol().record() and document["protocol"]["version"] == VERSION
    assert set(document["scores"]) == set(SCORES_OF_VERSION[VERSION]) == set(SCORES)
    assert document["memory"] == {"items": None, "bytes": 0, "bytes_per_item": None}
    assert schema.validate(document) == []
    path = schema.write_result(tmp_path / "run.json", document)
    assert json.loads(path.read_text()) == document and path.read_text().endswith("}\n")
    assert [p.name for p in tmp_path.iterdir()] == ["run.json"]  # no temporary file left behind


@pytest.mark.parametrize("spoil, problem", [
    (lambda d: d.pop("memory"), "memory: missing"),
    (lambda d: d["strategy"].update(kind="replay"),
     "strategy.kind: must be 'sequential', 'cumulative', 'joint' or 'joint-so-far', got 'replay'"),
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


def _as_version_1(document: dict) -> dict:
    """``document`` as a protocol version 1 file: its settings recorded as version 1, with their
    hash, and the scores of version 1 (no kernel distance)."""
    settings = document["protocol"]["settings"]
    document["protocol"] = {"version": 1, "sha256": protocol_sha256(1, settings), "settings": settings}
    del document["scores"]["synth_kid"]
    return document


def test_the_protocol_is_recorded_with_its_version_and_hash():
    document = fake_results.result()
    protocol = document["protocol"]
    assert set(protocol) == {"version", "sha256", "settings"}
    assert protocol["sha256"] == protocol_sha256(VERSION, Protocol().as_dict())
    assert protocol_sha256(1, protocol["settings"]) != protocol["sha256"]  # the version is hashed too
    assert schema.validate(_as_version_1(document)) == []
    assert set(document["scores"]) == set(SCORES_OF_VERSION[1]) and "synth_kid" not in SCORES_OF_VERSION[1]


@pytest.mark.parametrize("spoil, field, says", [
    (lambda d: d["protocol"].update(sha256="0" * 64), "protocol.sha256", "is not the hash of the protocol in the file"),
    (lambda d: d["protocol"]["settings"].update(eval_steps=d["protocol"]["settings"]["eval_steps"] + 1),
     "protocol.sha256", "is not the hash of the protocol in the file"),
    (lambda d: d["protocol"].update(version=99, sha256=protocol_sha256(99, d["protocol"]["settings"])),
     "protocol.version", "must be 1 or 2, got 99"),
    (lambda d: d["scores"].pop("synth_kid"), "scores.synth_kid", "missing"),
    (lambda d: _as_version_1(d)["scores"].update(synth_kid=fake_results.result()["scores"]["synth_kid"]),
     "scores.synth_kid", "not a score of protocol version 1"),
    (lambda d: d.update(seed_varies=["batch_order", "weather"]), "seed_varies[1]", "got 'weather'"),
    (lambda d: d.update(seed_varies=None), "", "seed_varies must be recorded"),
    (lambda d: d.update(buffer_history_sha256="abc"), "buffer_history_sha256", "must match"),
    (lambda d: d.pop("buffer_history_sha256"), "buffer_history_sha256", "missing"),
], ids=["tampered hash", "tampered settings", "unknown version", "no synth_kid in version 2",
        "synth_kid in version 1", "unknown seeded part", "seed_varies not recorded", "history not a sha256",
        "no history"])
def test_a_document_whose_protocol_scores_or_seeding_do_not_agree_is_refused_by_field(tmp_path, spoil, field, says):
    document = fake_results.result()
    spoil(document)
    problems = schema.validate(document)
    assert [f for f, _ in problems] == [field] and says in problems[0][1], problems
    with pytest.raises(schema.ResultError, match=re.escape(schema.describe(problems[0]))):
        schema.write_result(tmp_path / "run.json", document)
    assert list(tmp_path.iterdir()) == []


def test_a_joint_so_far_document_has_a_full_matrix_like_a_sequential_one():
    document = fake_results.result("naive", None)
    document["strategy"].update(name="joint-so-far", kind="joint-so-far")
    assert schema.validate(document) == []
    assert schema.validate(fake_results.result("joint", None) | {"strategy": document["strategy"]})[0] == (
        "scores.recon_perceptual.matrix", "expected 3 x 3")


def test_a_run_without_a_buffer_records_no_history_and_a_seed_that_varies_no_buffer():
    document = fake_results.result("naive", None)
    assert document["buffer_history_sha256"] is None
    document["seed_varies"] = ["batch_order", "p0_samples"]
    assert schema.validate(document) == []
    assert document["replay_buffer"] is None
    document["buffer_history_sha256"] = "ab" * 32  # a buffer the schema cannot see by K (a plugin's own): recorded
    assert schema.validate(document) == [("replay_buffer", "not recorded, but the run had a replay buffer "
                                                           "(buffer_history_sha256): a run of this schema records it")]
    document["replay_buffer"] = fake_results.replay_record(3, 2, 6)
    assert schema.validate(document) == []


def test_a_replay_run_records_its_buffers_and_each_sessions_hull_distance():
    document = fake_results.result("er-rand", 2)
    assert document["replay_buffer"] == {"sessions": [[0, 0], [0, 1], [0, 2]], "items": [[0, 1]] * 3,
                                         "hull_distance": [0.0, 1.1, 0.0]}
    assert schema.validate(document) == []
    document["replay_buffer"]["sessions"][1] = document["replay_buffer"]["items"][1] = None  # not seen (a resume)
    document["replay_buffer"]["items"][2][0] = None  # an item no anchor equals
    document["replay_buffer"]["hull_distance"] = None  # an empty final buffer
    assert schema.validate(document) == []
    migrated = {**fake_results.result("er-rand", 2), "replay_buffer": None}
    migrated["provenance"]["migrated_from"] = "facebench.result/3"
    assert schema.validate(migrated) == []  # not recorded: only a rerun can say


@pytest.mark.parametrize("spoil, problems", [
    (lambda r: r.update(hull_distance=[0.5, 0.2]),
     [("replay_buffer.hull_distance", "2 entries, expected one per session (3)")]),
    (lambda r: r.update(hull_distance=[0.5, -0.2, 1.0]),
     [("replay_buffer.hull_distance[1]", "must be at least 0.0, got -0.2")]),
    (lambda r: r["sessions"].pop(), [("replay_buffer.sessions", "2 entries, expected one per experience (3)")]),
    (lambda r: r["items"][1].pop(),
     [("replay_buffer.items[1]", "not one entry per item of replay_buffer.sessions[1]")]),
    (lambda r: r["sessions"][0].__setitem__(1, 1),
     [("replay_buffer.sessions[0][1]", "session 1 in the buffer after experience 0 (sessions 0 .. 0)")]),
    (lambda r: r["sessions"][2].__setitem__(1, 3),
     [("replay_buffer.sessions[2][1]", "session 3 in the buffer after experience 2 (sessions 0 .. 2)")]),
    (lambda r: r["items"][0].__setitem__(0, -1), [("replay_buffer.items[0][0]", "must be at least 0, got -1")]),
    (lambda r: r.update(extra=1), [("replay_buffer.extra", "unknown key (not in facebench.result/4)")]),
    (lambda r: r["sessions"][0].__setitem__(0, True),
     [("replay_buffer.sessions[0][0]", "expected an integer, got True")]),
    (lambda r: r["hull_distance"].__setitem__(0, float("nan")),
     [("replay_buffer.hull_distance[0]", "not a finite number: nan")]),
], ids=["hull of 2 sessions", "negative distance", "an experience short", "an item short", "a session too early",
        "a session of no run", "negative index", "unknown key",
        "a boolean session", "NaN distance"])
def test_a_replay_record_that_does_not_agree_with_its_run_is_refused_by_field(spoil, problems):
    document = fake_results.result("er-rand", 2)
    spoil(document["replay_buffer"])
    assert schema.validate(document) == problems


def test_a_record_without_a_buffer_is_refused():
    document = fake_results.result("naive", None, replay_buffer=fake_results.replay_record(3, 2, 6))
    assert schema.validate(document) == [
        ("replay_buffer", "recorded, but the run had no replay buffer (buffer_history_sha256 is null)")]
    document = fake_results.result("er-rand", 2)
    del document["replay_buffer"]
    assert schema.validate(document) == [("replay_buffer", "missing")]


def test_an_untracked_file_among_the_code_makes_the_commit_dirty(monkeypatch):
    """git_commit asks git about the code's paths, untracked files included: a new
    strategies/herding.py is code the commit lacks."""
    calls = []

    def fake_run(argv, **kwargs):
        calls.append(argv)
        out = "?? strategies/herding.py\n" if "status" in argv else "abc123\n"
        return type("Done", (), {"returncode": 0, "stdout": out})()

    monkeypatch.delenv("FACEBENCH_GIT_COMMIT", raising=False)
    monkeypatch.setattr(schema.subprocess, "run", fake_run)
    assert schema.git_commit() == "abc123-dirty"
    status = next(argv for argv in calls if "status" in argv)
    assert "--untracked-files=no" not in status and status[-len(schema.CODE_PATHS):] == list(schema.CODE_PATHS)
