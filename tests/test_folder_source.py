"""The folder source: real photos in root/<person>/<session>/{train,test}/."""

import io
import re

import pytest
import torch
from PIL import Image

from facebench.data import DataError, load_scenario

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def save(path, color=GREEN, size=(40, 40), mode="RGB", format=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new(mode, size, color).save(path, format=format)
    return path


def save_banded(path):
    """A 90x30 image: red, green and blue thirds, so the centre square is all green."""
    image = Image.new("RGB", (90, 30), RED)
    image.paste(GREEN, (30, 0, 60, 30))
    image.paste(BLUE, (60, 0, 90, 30))
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


@pytest.fixture
def photos(tmp_path):
    """Two persons; alice has sessions 'a-first' and 'b-later' (created in reverse order)."""
    root = tmp_path / "photos"
    save(root / "alice/b-later/train/1.jpg", BLUE, format="JPEG")
    save(root / "alice/b-later/test/1.webp", BLUE)
    save_banded(root / "alice/a-first/train/0.png")
    save(root / "alice/a-first/train/1.PNG", (128,), mode="L")
    save(root / "alice/a-first/train/2.png", (*RED, 0), mode="RGBA")
    (root / "alice/a-first/train/notes.txt").write_text("not an image, and ignored")
    save(root / "alice/a-first/test/0.jpeg", GREEN, size=(50, 80))
    save(root / "bob/only/train/0.png")
    save(root / "bob/only/test/0.png")
    return root


def quoted(path) -> str:
    """A regular expression that matches the text of ``path``."""
    return re.escape(str(path))


def folder_card(write_card, **source):
    return write_card({"resolution": 32, "source": {"kind": "folder", "root": "photos", **source}})


def test_persons_and_sessions_are_folders_in_name_order(photos, write_card):
    scenario = load_scenario(folder_card(write_card))
    assert scenario.persons == ["alice", "bob"]
    assert [session.name for session in scenario.sessions("alice")] == ["a-first", "b-later"]
    assert scenario.counts() == {"alice": [(3, 1), (1, 1)], "bob": [(1, 1)]}


def test_images_are_rgb_centre_cropped_and_resized(photos, write_card):
    first, later = load_scenario(folder_card(write_card)).sessions("alice")
    train = first.train.images
    assert train.shape == (3, 3, 32, 32) and train.dtype == torch.float32
    assert torch.allclose(train[0], torch.tensor([0.0, 1.0, 0.0]).view(3, 1, 1), atol=0.02)
    assert torch.allclose(train[1], torch.full((3, 32, 32), 128 / 255), atol=0.01)
    assert torch.allclose(train[2], torch.tensor([1.0, 0.0, 0.0]).view(3, 1, 1), atol=0.01)
    assert first.test.images.shape == (1, 3, 32, 32)
    assert later.train.images[0, 2].mean() > 0.9 and later.train.images[0, :2].mean() < 0.1
    assert first.train.frames == [0, 1, 2] and first.test.frames == [3]
    assert first.train.factors is None


def test_a_corrupt_file_is_an_error_naming_it(photos, write_card):
    garbage = photos / "alice/b-later/train/2.png"
    garbage.write_bytes(b"not an image at all")
    expected = f"cannot read image {quoted(garbage)}.*on_bad_image: skip"
    with pytest.raises(DataError, match=expected):
        load_scenario(folder_card(write_card)).sessions("alice")


def test_a_truncated_file_is_an_error_naming_it(photos, write_card):
    buffer = io.BytesIO()
    Image.effect_noise((64, 64), 40).convert("RGB").save(buffer, format="JPEG")
    truncated = photos / "bob/only/test/1.jpg"
    truncated.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    with pytest.raises(DataError, match=f"cannot read image {quoted(truncated)}"):
        load_scenario(folder_card(write_card)).sessions("bob")


def test_skip_mode_warns_and_leaves_the_file_out(photos, write_card):
    garbage = photos / "alice/a-first/train/1.PNG"
    garbage.write_bytes(b"\x89PNG broken")
    scenario = load_scenario(folder_card(write_card, on_bad_image="skip"))
    with pytest.warns(UserWarning, match=f"left out unreadable image {quoted(garbage)}"):
        first = scenario.sessions("alice")[0]
    assert len(first.train.images) == 2 and first.train.frames == [0, 2]
    assert first.test.frames == [3]


def test_a_session_without_test_images_is_an_error_naming_it(photos, write_card):
    (photos / "bob/only/test/0.png").unlink()
    with pytest.raises(DataError, match=f"session {quoted(photos / 'bob/only')}: no test images"):
        load_scenario(folder_card(write_card)).sessions("bob")


def test_a_session_whose_images_are_all_skipped_is_an_error(photos, write_card):
    (photos / "bob/only/train/0.png").write_bytes(b"broken")
    scenario = load_scenario(folder_card(write_card, on_bad_image="skip"))
    with pytest.warns(UserWarning), pytest.raises(DataError, match="no readable train images"):
        scenario.sessions("bob")


def test_a_missing_root_and_an_unknown_person_are_errors(photos, write_card):
    with pytest.raises(DataError, match=f"{quoted(photos.parent / 'elsewhere')}: no such folder"):
        load_scenario(folder_card(write_card, root="elsewhere")).persons
    with pytest.raises(DataError, match="unknown person 'carol' .* persons: alice, bob"):
        load_scenario(folder_card(write_card)).sessions("carol")


def test_a_folder_scenario_is_an_avalanche_stream(photos, write_card):
    benchmark = load_scenario(folder_card(write_card)).benchmark("alice")
    assert [len(e.dataset) for e in benchmark.train_stream] == [3, 1]
    assert [len(e.dataset) for e in benchmark.test_stream] == [1, 1]
    image, session = benchmark.train_stream[1].dataset[0]
    assert image.shape == (3, 32, 32) and session == 1
    assert list(benchmark.train_stream[0].dataset.person) == ["alice"] * 3
