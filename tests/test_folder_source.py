"""The folder source: real photos in root/<person>/<session>/{train,test}/."""

import io
import re
import warnings

import numpy as np
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
    save(root / "alice/a-first/train/2.png", (*RED, 255), mode="RGBA")  # opaque: no warning
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
    with warnings.catch_warnings():
        warnings.simplefilter("error")
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


GREY = 128 / 255  # the background transparent pixels are composited on


def read_back(tmp_path, write_card, image, **options):
    """The train image (3x32x32) of a one-image folder scenario: ``image`` saved as
    ``photos/p/s/train/0.png`` with PIL's save ``options``."""
    train = tmp_path / "photos/p/s/train"
    train.mkdir(parents=True)
    image.save(train / "0.png", **options)
    save(tmp_path / "photos/p/s/test/0.png")
    return load_scenario(folder_card(write_card)).sessions("p")[0].train.images[0]


def rgb(red, green, blue) -> torch.Tensor:
    """A 3x1x1 colour of 8-bit values, in [0, 1]."""
    return torch.tensor([red, green, blue], dtype=torch.float32).view(3, 1, 1) / 255


def test_16_bit_grey_is_scaled_not_clipped(tmp_path, write_card):
    gradient = np.tile(np.linspace(16384, 49151, 64), (64, 1)).astype(np.uint16)  # mid-grey
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        image = read_back(tmp_path, write_card, Image.fromarray(gradient))  # mode I;16
    assert abs(image.mean().item() - gradient.mean() / 65535) < 0.005
    assert (image == 1).float().mean() == 0  # PIL's convert("RGB") made 98.4% of it white
    assert torch.equal(image[0], image[2]) and image[0, :, 0].max() < image[0, :, -1].min()


SIXTEEN_BIT = [
    # (id, mode, value): a 40x40 image of one 16-bit value; TIFF content under a .png name
    # (PIL reads a file by its content), the formats that keep these modes
    ("I;16B", "I;16B", 40000),
    ("I", "I", 30000),
    ("I;16", "I;16", 1000),
]


@pytest.mark.parametrize(
    "mode, value", [case[1:] for case in SIXTEEN_BIT], ids=[case[0] for case in SIXTEEN_BIT]
)
def test_every_16_bit_grey_mode_is_scaled(tmp_path, write_card, mode, value):
    dtype = {"I;16B": ">u2", "I": "<i4", "I;16": "<u2"}[mode]
    image = Image.frombytes(mode, (40, 40), np.full((40, 40), value, dtype).tobytes())
    pixels = read_back(tmp_path, write_card, image, format="TIFF")
    assert torch.equal(pixels, torch.full((3, 32, 32), round(value / 257) / 255))


UNKNOWN_SCALE = [
    # (id, a 40x40 image whose values have no known scale: TIFF content under a .png name, words)
    ("32-bit beyond 16-bit values", Image.frombytes("I", (40, 40), np.full((40, 40), 70000, "<i4").tobytes()),
     "a mode I image with values from 70000 to 70000: only 16-bit values"),
    ("floating-point", Image.fromarray(np.full((40, 40), 0.5, np.float32)), "a floating-point (mode F) image"),
]


@pytest.mark.parametrize(
    "image, words", [case[1:] for case in UNKNOWN_SCALE], ids=[case[0] for case in UNKNOWN_SCALE]
)
def test_an_image_of_unknown_scale_is_unreadable(tmp_path, write_card, image, words):
    with pytest.raises(DataError, match=r"cannot read image .*0\.png: " + re.escape(words)):
        read_back(tmp_path, write_card, image, format="TIFF")


def test_a_palette_image_reads_its_colours(tmp_path, write_card):
    image = Image.new("P", (40, 40), 1)
    image.putpalette([*RED, 10, 200, 30])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pixels = read_back(tmp_path, write_card, image)
    assert torch.equal(pixels, rgb(10, 200, 30).expand(3, 32, 32))


def test_transparent_palette_entries_are_composited_on_grey_with_a_warning(tmp_path, write_card):
    image = Image.new("P", (40, 40), 1)
    image.putpalette([*RED, *BLUE])
    image.paste(0, (0, 0, 40, 10))  # the top quarter: entry 0, transparent
    with pytest.warns(UserWarning, match=f"{quoted(tmp_path / 'photos/p/s/train/0.png')}: 25.0% of"):
        pixels = read_back(tmp_path, write_card, image, transparency=0)
    assert torch.allclose(pixels[:, :4], torch.full((3, 4, 32), GREY), atol=1 / 255)
    assert torch.allclose(pixels[:, -4:], rgb(*BLUE).expand(3, 4, 32), atol=1 / 255)


ALPHA = [
    # (id, image, the composite on mid-grey: colour x alpha + 128 x (1 - alpha), in 8 bits)
    ("RGBA half transparent", Image.new("RGBA", (40, 40), (*RED, 128)), (192, 64, 64)),
    ("RGBA fully transparent", Image.new("RGBA", (40, 40), (*RED, 0)), (128, 128, 128)),
    ("LA", Image.new("LA", (40, 40), (100, 51)), (122, 122, 122)),
    ("16-bit grey, tRNS", Image.fromarray(np.zeros((40, 40), np.uint16)), (128, 128, 128)),
]


@pytest.mark.parametrize(
    "image, expected", [case[1:] for case in ALPHA], ids=[case[0] for case in ALPHA]
)
def test_alpha_is_composited_on_grey_with_a_warning_naming_the_file(
    tmp_path, write_card, image, expected
):
    options = {"transparency": 0} if image.mode == "I;16" else {}
    warning = r": 100.0% of the pixels are transparent \(alpha < 255\); composited on mid-grey"
    with pytest.warns(UserWarning, match=quoted(tmp_path / "photos/p/s/train/0.png") + warning):
        pixels = read_back(tmp_path, write_card, image, **options)
    assert torch.allclose(pixels, rgb(*expected).expand(3, 32, 32), atol=1e-6)
