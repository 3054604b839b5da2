"""A run's inputs are named by their content: two folders of other photos behind the same card
text, or an added photo, give other image hashes and other anchor-cache keys; result files name
the generic models and the images; an existing result is never replaced without --force."""

from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from facebench.atomic import write_atomic
from facebench.board import schema
from facebench.data import load_scenario
from facebench.protocol import Protocol
from facebench.run.anchors import anchors_key

MODELS = SimpleNamespace(sha256={"generator": "g" * 64}, device=SimpleNamespace(type="cpu"))


def _photos(root, shade: int, extra: bool = False):
    for split, count in (("train", 3 if extra else 2), ("test", 1)):
        for i in range(count):
            folder = root / "photos" / "ann" / "s0" / split
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.full((8, 8, 3), shade + i, np.uint8)).save(folder / f"{i}.png")
    card = root / "card.yaml"
    card.write_text("resolution: 32\nsource: {kind: folder, root: photos}\n")
    return load_scenario(card)


def _key(scenario):
    return anchors_key(MODELS, scenario.card.sha256, "ann", scenario.images_sha256("ann"), Protocol())


def test_other_photos_behind_the_same_card_text_have_other_anchors(tmp_path):
    a, b = _photos(tmp_path / "a", 10), _photos(tmp_path / "b", 200)
    assert a.card.sha256 == b.card.sha256  # the card text says nothing of the photos
    assert a.images_sha256("ann") != b.images_sha256("ann")
    assert _key(a) != _key(b)
    again = _photos(tmp_path / "c", 10)
    assert again.images_sha256("ann") == a.images_sha256("ann") and _key(again) == _key(a)


def test_an_added_photo_gives_other_anchors(tmp_path):
    before = _photos(tmp_path / "a", 10)
    after = _photos(tmp_path / "b", 10, extra=True)
    assert before.images_sha256("ann") != after.images_sha256("ann") and _key(before) != _key(after)


def test_an_existing_file_is_not_replaced_unless_asked(tmp_path):
    path = tmp_path / "result.json"
    path.write_text("first")
    with pytest.raises(FileExistsError):
        write_atomic(path, "second", overwrite=False)
    assert path.read_text() == "first" and [p.name for p in tmp_path.iterdir()] == ["result.json"]
    write_atomic(path, "second")
    assert path.read_text() == "second"


def test_a_new_result_must_name_its_models_and_images():
    import fake_results

    document = fake_results.result()
    assert schema.validate(document) == []
    for key in ("models", "images_sha256"):
        broken = {**document, "provenance": {k: v for k, v in document["provenance"].items() if k != key}}
        assert any("must be recorded" in problem for _, problem in schema.validate(broken))
    migrated = {**document, "provenance": {**{k: v for k, v in document["provenance"].items()
                                              if k not in ("models", "images_sha256")},
                                           "migrated_from": "facebench.result/1"}}
    assert schema.validate(migrated) == []
    from_2 = {**migrated, "provenance": {**migrated["provenance"], "migrated_from": "facebench.result/2"}}
    assert any("must be recorded" in problem for _, problem in schema.validate(from_2))  # /2 recorded them
