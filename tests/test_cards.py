"""Scenario cards: finding, validating and hashing them."""

import copy
import hashlib
import json

import pytest

from facebench.data import cards
from facebench.data.cards import CardError, Field, load_card, stock_cards

FACEWORLD = {
    "description": "a test card",
    "resolution": 32,
    "source": {
        "kind": "faceworld",
        "world_seed": 7,
        "persons": 2,
        "sessions": 3,
        "train_per_session": 4,
        "test_per_session": 4,
    },
}
FOLDER = {"source": {"kind": "folder", "root": "photos"}}


def edited(card: dict, key: str, value) -> dict:
    """A copy of ``card`` with the dotted ``key`` set to ``value`` (or removed: value ...)."""
    card = copy.deepcopy(card)
    *parents, last = key.split(".")
    section = card
    for parent in parents:
        section = section[parent]
    if value is ...:
        del section[last]
    else:
        section[last] = value
    return card


def test_stock_cards_are_found_by_name_and_validate():
    assert {"faceworld", "faceworld-quick"} <= set(stock_cards())
    card = load_card("faceworld")
    assert card.name == "faceworld" and card.path == stock_cards()["faceworld"]
    assert card.data["resolution"] == 64
    assert card.data["source"] == {
        "kind": "faceworld",
        "world_seed": 0,
        "persons": 5,
        "sessions": 10,
        "train_per_session": 20,
        "test_per_session": 20,
    }
    quick = load_card("faceworld-quick").data["source"]
    assert quick["persons"] * quick["sessions"] < 10


def test_a_card_is_found_by_path_and_named_after_its_file(write_card):
    path = write_card(FACEWORLD, "my-persons")
    card = load_card(path)
    assert card.path == path and card.name == "my-persons"
    assert load_card(str(path)).data == card.data


def test_defaults_are_filled_in(write_card):
    from dataclasses import asdict

    from facebench.protocol import Protocol

    card = load_card(write_card(FOLDER)).data
    assert card.pop("protocol") == asdict(Protocol())
    assert card == {
        "description": "",
        "resolution": 64,
        "source": {"kind": "folder", "root": "photos", "on_bad_image": "error"},
    }


def test_hash_is_sha256_of_canonical_json_of_the_validated_card(write_card):
    card = load_card(write_card(FACEWORLD, "a"))
    canonical = json.dumps(card.data, sort_keys=True, separators=(",", ":"))
    assert card.sha256 == hashlib.sha256(canonical.encode()).hexdigest()
    reordered = dict(reversed(list(FACEWORLD.items())))
    assert load_card(write_card(reordered, "b")).sha256 == card.sha256
    other_seed = edited(FACEWORLD, "source.world_seed", 8)
    assert load_card(write_card(other_seed, "c")).sha256 != card.sha256


BAD_CARDS = [
    # (card, key named in the error, words in the error)
    (edited(FACEWORLD, "resolutoin", 64), "resolutoin", "unknown key"),
    (edited(FACEWORLD, "source.wrold_seed", 1), "source.wrold_seed", "unknown key"),
    (edited(FOLDER, "source.world_seed", 1), "source.world_seed", "unknown key"),
    (edited(FACEWORLD, "resolution", "64"), "resolution", "expected an integer"),
    (edited(FACEWORLD, "source.persons", True), "source.persons", "expected an integer"),
    (edited(FACEWORLD, "description", 3), "description", "expected a string"),
    (edited(FACEWORLD, "source", "faceworld"), "source", "expected a mapping"),
    (edited(FACEWORLD, "resolution", 16), "resolution", "from 32 to 256"),
    (edited(FACEWORLD, "source.persons", 0), "source.persons", ">= 1"),
    (edited(FACEWORLD, "source.world_seed", -1), "source.world_seed", ">= 0"),
    (edited(FOLDER, "source.on_bad_image", "no"), "source.on_bad_image", "one of 'error', 'skip'"),
    (edited(FACEWORLD, "source.kind", "video"), "source.kind", "one of faceworld, folder"),
    (edited(FACEWORLD, "source.world_seed", ...), "source.world_seed", "missing"),
    (edited(FACEWORLD, "source", ...), "source.kind", "missing"),
]


@pytest.mark.parametrize("data, key, words", BAD_CARDS, ids=[f"{k}: {w}" for _, k, w in BAD_CARDS])
def test_a_bad_card_is_an_error_naming_the_key_and_the_file(write_card, data, key, words):
    path = write_card(data)
    with pytest.raises(CardError) as error:
        load_card(path)
    assert error.value.key == key and error.value.path == path
    assert str(path) in str(error.value) and key in str(error.value) and words in str(error.value)


def test_a_file_that_is_not_a_yaml_mapping_is_an_error_naming_the_file(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("source:\n  kind: [faceworld\n")
    with pytest.raises(CardError, match=r"broken\.yaml: not valid YAML at line \d"):
        load_card(broken)
    listing = tmp_path / "listing.yaml"
    listing.write_text("- 1\n- 2\n")
    with pytest.raises(CardError, match=r"listing\.yaml: expected a mapping"):
        load_card(listing)


def test_unknown_names_and_missing_files_are_errors(tmp_path):
    with pytest.raises(CardError, match="unknown scenario 'nope' .*faceworld-quick"):
        load_card("nope")
    with pytest.raises(CardError, match=r"absent\.yaml: no such card file"):
        load_card(tmp_path / "absent.yaml")


def test_a_section_is_added_by_one_schema_entry(write_card, monkeypatch):
    """How a later issue adds, e.g., the protocol section: one entry in SCHEMA."""
    protocol = {"steps": Field(int, default=100, min=1), "lr": Field(float, default=3e-4, min=0)}
    monkeypatch.setitem(cards.SCHEMA, "protocol", protocol)
    assert load_card(write_card(FACEWORLD, "a")).data["protocol"] == {"steps": 100, "lr": 3e-4}
    given = edited(FACEWORLD, "protocol", {"lr": 1})
    assert load_card(write_card(given, "b")).data["protocol"] == {"steps": 100, "lr": 1}
    with pytest.raises(CardError, match=r"c\.yaml: protocol\.steps: must be an integer >= 1"):
        load_card(write_card(edited(FACEWORLD, "protocol", {"steps": 0}), "c"))
    written = write_card(FACEWORLD, "d")
    written.write_text(written.read_text() + "protocol:\n  lr: 1e-3\n")
    assert load_card(written).data["protocol"]["lr"] == 1e-3
