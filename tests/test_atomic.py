"""facebench.atomic: a written file is its old content or its whole new content, never half.

Bytes, text and a callable writer land whole; a writer that fails half-way (an exception, a
KeyboardInterrupt), a document JSON refuses, or a rename that cannot happen leave the old file
(or no file) and no temporary file behind; the new file gets the permissions a plain ``open``
gives; ``write_json`` and ``save_torch`` read back what was written.
"""

import json
import math
import os
import stat

import pytest
import torch

from facebench.atomic import save_torch, write_atomic, write_json


def _names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_bytes_text_and_a_writer_land_whole(tmp_path):
    path = tmp_path / "f"
    assert write_atomic(path, b"\x00\x01bytes") == path and path.read_bytes() == b"\x00\x01bytes"
    write_atomic(path, "text é")
    assert path.read_bytes() == "text é".encode("utf-8")
    write_atomic(str(path), lambda file: (file.write(b"one "), file.write(b"two")))
    assert path.read_bytes() == b"one two"
    assert _names(tmp_path) == ["f"]


class Boom(Exception):
    pass


@pytest.mark.parametrize("error", [Boom, KeyboardInterrupt])
def test_a_writer_that_fails_half_way_leaves_the_old_content_and_no_temporary_file(tmp_path, error):
    path = tmp_path / "result.json"
    path.write_text("old content")

    def half(file):
        file.write(b"new cont")
        file.flush()
        raise error("the disk is full")

    with pytest.raises(error):
        write_atomic(path, half)
    assert path.read_text() == "old content"
    assert _names(tmp_path) == ["result.json"]


def test_a_failed_first_write_leaves_no_file(tmp_path):
    def fail(file):
        file.write(b"x")
        raise Boom

    with pytest.raises(Boom):
        write_atomic(tmp_path / "new", fail)
    assert _names(tmp_path) == []


def test_a_rename_that_fails_leaves_the_target_and_no_temporary_file(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "inside").write_text("kept")  # a non-empty folder cannot be replaced by a file
    with pytest.raises(OSError):
        write_atomic(target, b"new")
    assert target.is_dir() and (target / "inside").read_text() == "kept"
    assert _names(tmp_path) == ["taken"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002], ids=oct)
def test_permissions_are_those_of_a_plain_open(tmp_path, umask):
    old = os.umask(umask)
    try:
        with open(tmp_path / "plain", "wb") as file:
            file.write(b"x")
        write_atomic(tmp_path / "atomic", b"x")
        write_atomic(tmp_path / "plain-replaced", b"x")
        write_atomic(tmp_path / "plain-replaced", b"y")  # replacing a file
    finally:
        os.umask(old)
    mode = stat.S_IMODE((tmp_path / "plain").stat().st_mode)
    assert mode == 0o666 & ~umask
    assert stat.S_IMODE((tmp_path / "atomic").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "plain-replaced").stat().st_mode) == mode


def test_write_json_round_trip_and_no_nan(tmp_path):
    path = tmp_path / "doc.json"
    document = {"a": [1, 2.5, None], "b": {"c": "d"}}
    write_json(path, document)
    assert json.loads(path.read_text()) == document and path.read_text().endswith("\n")
    with pytest.raises(ValueError):
        write_json(path, {"a": math.nan})
    with pytest.raises(ValueError):
        write_json(path, {"a": math.inf})
    assert json.loads(path.read_text()) == document
    assert _names(tmp_path) == ["doc.json"]


def test_save_torch_round_trip(tmp_path):
    path = tmp_path / "state.pt"
    state = {"w": torch.arange(6.0).view(2, 3), "n": 3}
    save_torch(path, state)
    loaded = torch.load(path, weights_only=True)
    assert torch.equal(loaded["w"], state["w"]) and loaded["n"] == 3
    assert _names(tmp_path) == ["state.pt"]
