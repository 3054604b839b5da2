"""`facebench data import`: real photos -> FFHQ-aligned card images, and a report of what was left out.

The only real face here is scikit-image's bundled astronaut photo (Eileen Collins, NASA: public
domain); the no-face photo is its coffee cup (CC0). Every other test photo is made from them:
rotated, rescaled, cropped, EXIF-rotated, two side by side, shrunk, broken.
"""

import importlib.util
import sys
import io
import json
import math

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("dlib", reason="needs the photos extra: pip install 'facebench[photos]'")
skimage_data = pytest.importorskip("skimage.data", reason="the test photos come from scikit-image")
if importlib.util.find_spec("face_recognition_models") is None:
    pytest.skip("needs the photos extra: pip install 'facebench[photos]'", allow_module_level=True)

from facebench.cli import main  # noqa: E402
from facebench.data import load_scenario  # noqa: E402
from facebench.data.photos import NothingImported, PhotoImportError, import_photos  # noqa: E402
from facebench.data.photos import dlib_models  # noqa: E402
from facebench.data.photos.align import feature_square  # noqa: E402
from facebench.data.photos.faces import landmarks, propose  # noqa: E402
from facebench.data.photos.importer import REASONS, REPORT, held_out_positions  # noqa: E402

R = 256
ORIGINAL = Image.fromarray(skimage_data.astronaut())  # 512 x 512, her face square about 173 px
EXIF_ORIENTATION = 0x0112


def save(path, image, **options):
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, **options)


def exif_rotated(path):
    """The astronaut stored on her side, with EXIF orientation 6 (turn 90 degrees clockwise to
    view): only a reader that honours the tag sees her upright."""
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    save(path, ORIGINAL.transpose(Image.Transpose.ROTATE_90), exif=exif, quality=95)


def truncated_jpeg(path):
    buffer = io.BytesIO()
    ORIGINAL.save(buffer, format="JPEG")
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    """One import of a person with three sessions; returns (PHOTOS, report)."""
    root = tmp_path_factory.mktemp("import")
    photos = root / "photos"
    studio, later, lonely = (photos / "eileen" / name for name in ("a-studio", "b-later", "c-lonely"))
    save(studio / "0-original.png", ORIGINAL)
    save(studio / "1-rotated.jpg", ORIGINAL.rotate(8, Image.Resampling.BICUBIC, center=(220, 130)), quality=95)
    save(studio / "2-larger.png", ORIGINAL.resize((870, 870), Image.Resampling.LANCZOS))
    save(later / "0-cropped.png", ORIGINAL.crop((100, 20, 420, 360)))
    exif_rotated(later / "1-exif.jpg")
    save(later / "2-rotated.png", ORIGINAL.rotate(-10, Image.Resampling.BICUBIC, center=(220, 130)))
    save(later / "coffee.jpg", Image.fromarray(skimage_data.coffee()), quality=90)
    save(later / "two.png", Image.fromarray(np.hstack([np.asarray(ORIGINAL)] * 2)))
    (later / "corrupt.jpg").write_bytes(b"not a photo at all")
    truncated_jpeg(later / "truncated.jpg")
    save(lonely / "0-original.png", ORIGINAL)
    save(lonely / "1-small.png", ORIGINAL.resize((256, 256), Image.Resampling.LANCZOS))  # face square ~86 px
    save(photos / "eileen" / "stray.png", ORIGINAL)
    save(later / "nested" / "photo.png", ORIGINAL)
    return photos, import_photos(photos, root / "eileen-aligned", resolution=R)


def test_every_left_out_photo_is_reported_with_its_reason(imported):
    photos, report = imported
    reasons = {item.photo: item.reason for item in report.left_out}
    assert reasons == {
        "eileen/stray.png": "out of place",
        "eileen/b-later/nested": "out of place",
        "eileen/b-later/coffee.jpg": "no face",
        "eileen/b-later/corrupt.jpg": "unreadable",
        "eileen/b-later/truncated.jpg": "unreadable",
        "eileen/b-later/two.png": "several faces",
        "eileen/c-lonely/1-small.png": "face too small",
        "eileen/c-lonely/0-original.png": "session too small",
    }
    assert set(reasons.values()) == set(REASONS)
    details = {item.photo: item.detail for item in report.left_out}
    assert details["eileen/b-later/two.png"].startswith("2 faces: ")
    assert "less than 128 px" in details["eileen/c-lonely/1-small.png"]
    written = json.loads((report.out / REPORT).read_text())
    assert written["left_out"] == [vars(item) for item in report.left_out]
    assert written["min_face_side"] == R / 2 and written["resolution"] == R


def test_the_written_folder_loads_through_its_card(imported):
    _, report = imported
    scenario = load_scenario(report.card)
    assert scenario.persons == ["eileen"]
    assert scenario.card.data["models"]["identity"] in ("dlib", {"kind": "dlib"})  # real photos, a real identity
    assert scenario.counts() == {"eileen": [(2, 1), (2, 1)]}
    first, later = scenario.sessions("eileen")
    assert (first.name, later.name) == ("a-studio", "b-later")
    assert first.train.images.shape == (2, 3, R, R)
    assert sorted(p.name for p in (report.out / "eileen/a-studio/test").iterdir()) == ["1-rotated.jpg.png"]
    assert [item.image for item in report.imported][:3] == [
        "eileen/a-studio/train/0-original.png.png", "eileen/a-studio/test/1-rotated.jpg.png",
        "eileen/a-studio/train/2-larger.png.png",
    ]


def features(image: Image.Image) -> np.ndarray:
    """The eye centres (image-left first) and mouth centre (3, 2) of the one face in ``image``."""
    (face,) = [proposal for proposal in propose(image) if proposal.confidence is not None]
    points = landmarks(image, face.box)
    return np.stack([points[36:42].mean(0), points[42:48].mean(0), (points[48] + points[54]) / 2])


def aligned(report, name: str) -> Image.Image:
    (image,) = [item.image for item in report.imported if item.photo.endswith(name)]
    return Image.open(report.out / image)


@pytest.fixture(scope="module")
def reference(imported):
    """The features of the aligned original photo."""
    return features(aligned(imported[1], "a-studio/0-original.png"))


def test_the_eyes_and_mouth_land_where_ffhq_puts_them(reference):
    """Where the eye distance sets the square (2 |e| >= 1.8 |m|, as for this face), FFHQ puts the
    eyes a quarter of the side apart, at x = 3R/8 and 5R/8, level, 0.1 |m| above the centre, and
    the mouth 0.9 |m| below it (pixel (i, j) centred at (i, j), so the centre is R/2 - 1/2)."""
    (left, right, mouth) = reference
    m = mouth[1] - (left[1] + right[1]) / 2
    centre = R / 2 - 0.5
    expected = [(3 * R / 8 - 0.5, centre - 0.1 * m), (5 * R / 8 - 0.5, centre - 0.1 * m), (centre, centre + 0.9 * m)]
    assert np.abs(np.array([left, right, mouth]) - expected).max() < 2.0
    assert 2 * (right[0] - left[0]) >= 1.8 * m


@pytest.mark.parametrize("name", ["1-rotated.jpg", "2-larger.png", "0-cropped.png", "1-exif.jpg", "2-rotated.png"])
def test_rotated_rescaled_cropped_and_exif_copies_align_to_the_same_crop(imported, reference, name):
    report = imported[1]
    copy = aligned(report, name)
    assert np.abs(features(copy) - reference).max() < 2.0  # pixels of 256
    original = np.asarray(aligned(report, "a-studio/0-original.png"), np.float32)
    assert np.abs(np.asarray(copy, np.float32) - original).mean() < 8  # of 255


def test_the_exif_photo_is_stored_on_its_side(imported):
    photos, _ = imported
    with Image.open(photos / "eileen/b-later/1-exif.jpg") as stored:
        assert stored.getexif()[EXIF_ORIENTATION] == 6
        assert not [p for p in propose(stored.convert("RGB")) if p.confidence is not None]


def test_the_square_follows_the_eyes_and_mouth_whatever_the_pose():
    """feature_square on exact points: the side is max(4 |e|, 3.6 |m|), and a rotated, scaled,
    shifted face maps to the same aligned positions."""
    eyes_mouth = np.array([[100.0, 100.0], [140.0, 100.0], [120.0, 150.0]])  # |e| 40, |m| 50
    square = feature_square(*eyes_mouth)
    assert square.side == pytest.approx(max(4 * 40, 3.6 * 50))
    expected = square.to_aligned(eyes_mouth, R)
    turn = math.radians(25)
    rotation = np.array([[math.cos(turn), -math.sin(turn)], [math.sin(turn), math.cos(turn)]])
    moved = eyes_mouth @ rotation.T * 2.5 + [300, -40]
    assert np.allclose(feature_square(*moved).to_aligned(moved, R), expected)
    assert np.allclose(square.to_aligned(square.corners, R), [[-0.5, -0.5], [-0.5, R - 0.5], [R - 0.5, R - 0.5], [R - 0.5, -0.5]])


@pytest.mark.parametrize("n, fraction, tests", [
    (2, 0.5, [1]), (3, 0.5, [1]), (4, 0.5, [1, 3]), (7, 0.5, [1, 3, 5]), (4, 0.25, [2]),
    (8, 0.25, [2, 6]), (4, 0.9, [0, 2, 3]), (5, 0.01, [2]),
])
def test_held_out_photos_are_spread_evenly_in_name_order(n, fraction, tests):
    assert held_out_positions(n, fraction) == tests


@pytest.fixture
def small_photos(tmp_path):
    """A person with one session of two usable photos."""
    photos = tmp_path / "photos"
    save(photos / "p/s/0.png", ORIGINAL)
    save(photos / "p/s/1.png", ORIGINAL.crop((100, 20, 420, 360)))
    return photos


def hidden_leftovers(folder):
    return [path.name for path in folder.iterdir() if path.name.startswith(".")]


def test_the_command_imports_and_replaces_only_with_force(small_photos, tmp_path, capsys):
    out = tmp_path / "aligned"
    assert main(["data", "import", str(small_photos), "--out", str(out)]) == 0
    assert "imported 2 photos into" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["aligned.yaml", REPORT, "p"]
    assert main(["data", "import", str(small_photos), "--out", str(out)]) == 2
    assert "exists: choose another folder, or --force" in capsys.readouterr().err
    assert load_scenario(out / "aligned.yaml").sessions("p")[0].train.images.shape == (1, 3, 64, 64)
    assert main(["data", "import", str(small_photos), "--out", str(out), "--force", "--resolution", str(R)]) == 0
    assert load_scenario(out / "aligned.yaml").sessions("p")[0].train.images.shape == (1, 3, R, R)
    assert hidden_leftovers(tmp_path) == []


def test_force_never_replaces_a_folder_an_import_did_not_write(small_photos, tmp_path):
    precious = tmp_path / "precious"
    (precious / "keep.txt").parent.mkdir()
    (precious / "keep.txt").write_text("mine")
    with pytest.raises(PhotoImportError, match="--force replaces only a folder written by facebench data import"):
        import_photos(small_photos, precious, force=True)
    assert (precious / "keep.txt").read_text() == "mine"
    for inside in (small_photos, small_photos / "p" / "aligned", tmp_path):
        with pytest.raises(PhotoImportError, match="may not contain each other"):
            import_photos(small_photos, inside)


def test_a_folder_without_a_usable_photo_writes_nothing(tmp_path, capsys):
    photos = tmp_path / "photos"
    save(photos / "p/s/coffee.jpg", Image.fromarray(skimage_data.coffee()))
    (photos / "p/s/notes.txt").write_text("not a photo")
    with pytest.raises(NothingImported, match=r"no photo could be imported \(1 no face, 1 unreadable\)") as error:
        import_photos(photos, tmp_path / "out")
    assert [item.photo for item in error.value.report.left_out] == ["p/s/coffee.jpg", "p/s/notes.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]
    assert main(["data", "import", str(photos), "--out", str(tmp_path / "out")]) == 2
    printed = capsys.readouterr()
    assert "p/s/coffee.jpg" in printed.out and "nothing written" in printed.err


def test_bad_settings_are_refused_before_any_work(small_photos, tmp_path):
    with pytest.raises(PhotoImportError, match="resolution 512: not a card's resolution"):
        import_photos(small_photos, tmp_path / "out", resolution=512)
    with pytest.raises(PhotoImportError, match="the test fraction must be between 0 and 1, got 1.0"):
        import_photos(small_photos, tmp_path / "out", test_fraction=1.0)
    with pytest.raises(PhotoImportError, match="no session folders"):
        import_photos(small_photos / "p" / "s", tmp_path / "out")


def test_a_missing_extra_is_one_line_naming_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "dlib", None)
    with pytest.raises(dlib_models.PhotosExtraMissing, match=r"^real photos need dlib: pip install 'facebench\[photos\]'$"):
        dlib_models.dlib()
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(dlib_models.PhotosExtraMissing, match=r"face_recognition_models package: pip install 'facebench\[photos\]'"):
        dlib_models.model_file(dlib_models.LANDMARKS_FILE)


def test_an_imported_folder_runs_with_dlib_scoring_identity(tmp_path, anchor_cache, monkeypatch, capsys):
    """The issue's "done when": an import gives a card that `facebench run` accepts, identity by dlib;
    a session of one test image is refused before any work (the synthesis scores need 2)."""
    import yaml

    monkeypatch.setenv("FACEBENCH_GIT_COMMIT", "test")

    def imported_card(photos_per_session: int):
        photos = tmp_path / f"photos{photos_per_session}"
        for session in ("s1", "s2"):
            for i in range(photos_per_session):
                save(photos / f"p/{session}/{i}.png", ORIGINAL if i % 2 else ORIGINAL.crop((100, 20, 420, 360)))
        report = import_photos(photos, tmp_path / f"aligned{photos_per_session}", resolution=64)
        card = yaml.safe_load(report.card.read_text())
        card["protocol"] = {"steps_per_session": 2, "joint_steps": 2, "anchor_steps": 2, "eval_steps": 2,
                            "synthesis_samples": 2}
        tiny = report.out / "tiny.yaml"  # beside the images: its root is "."
        tiny.write_text(yaml.safe_dump(card))
        return ["run", "--strategy", "naive", "--scenario", str(tiny), "--person", "p",
                "--out", str(tmp_path / f"runs{photos_per_session}")]

    assert main(imported_card(2)) == 2
    assert "sessions s1, s2 of fewer than 2 test images" in capsys.readouterr().err
    assert main(imported_card(4)) == 0
    [path] = (tmp_path / "runs4").rglob("personp-seed0.json")
    result = json.loads(path.read_text())
    assert result["provenance"]["backends"]["identity"] == "dlib-resnet-v1"
    matrix = result["scores"]["recon_identity"]["matrix"]
    assert all(math.isfinite(v) for row in matrix for v in row if v is not None)
