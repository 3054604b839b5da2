"""Scenario cards: finding, validating and hashing them."""

import copy
import hashlib
import json

import pytest

from facebench.data.cards import CardError, load_card, stock_cards

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
# Result files are keyed by these (protocol version 2's defaults filled in): a change orphans
# them, unless the old hash is recorded as retired with the protocol version it belonged to.
STOCK_SHA256 = {
    "faceworld": "c9111153d45cd9482860f6487e68488c78b08f9976c6c9cbdd8d24370bac9d53",
    "faceworld-quick": "4197eb5cc7cdf9c935e074bc6cff3cba02593e213f63da5d804dde4302e84e8a",
    "faceworld-dev": "4693baac3c78a36c2789a2d4132b0c4b5feb704508848ab83ae553b7257ab775",
    "faceworld-life": "88c928ac71e621544b2c21f56650810d1c4579226ae1a2ae77cbe42fa28a45b2",
    "faceworld-life-dev": "90498e7e2f56c71bbc9ade8eb03817f9c65b1a085e51bfc51d2a98b760529425",
}


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


def test_the_stock_cards_keep_their_hashes():
    assert {name: load_card(name).sha256 for name in STOCK_SHA256} == STOCK_SHA256


def test_the_v1_boards_card_hashes_are_retired_under_protocol_version_1():
    from facebench.data.cards import RETIRED_STOCK_HASHES

    assert RETIRED_STOCK_HASHES == {
        "faceworld": {"bc8d21e80f558d10746611c2ef00f3b3aeb3e6ddf3fc29cda4a0c8bab123a7d4": 1},
        "faceworld-quick": {"891f2f338b43b0f088f988a77479aa5f181d88d94700ce8a0f90aab6b1f2531b": 1},
    }


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
    (edited(FACEWORLD, "protocol", {"stepz": 1}), "protocol.stepz", "unknown key"),
    (edited(FACEWORLD, "resolution", "64"), "resolution", "expected an integer"),
    (edited(FACEWORLD, "resolution", 64.0), "resolution", "expected an integer"),
    (edited(FACEWORLD, "source.world_seed", "abc"), "source.world_seed", "expected an integer"),
    (edited(FACEWORLD, "source.persons", True), "source.persons", "expected an integer"),
    (edited(FACEWORLD, "description", 3), "description", "expected a string"),
    (edited(FOLDER, "source.root", 3), "source.root", "expected a string"),
    (edited(FACEWORLD, "protocol", {"lr": True}), "protocol.lr", "expected a finite number"),
    (edited(FACEWORLD, "protocol", {"lr": "fast"}), "protocol.lr", "expected a finite number"),
    (edited(FACEWORLD, "source", "faceworld"), "source", "expected a mapping"),
    (edited(FACEWORLD, "protocol", None), "protocol", "expected a mapping"),
    (edited(FACEWORLD, "resolution", 16), "resolution", "from 32 to 256"),
    (edited(FACEWORLD, "source.persons", 0), "source.persons", "from 1 to 1000; got 0"),
    (edited(FACEWORLD, "source.world_seed", -1), "source.world_seed", ">= 0"),
    (edited(FACEWORLD, "protocol", {"eval_steps": -1}), "protocol.eval_steps", ">= 0"),
    (edited(FACEWORLD, "protocol", {"lr": -0.1}), "protocol.lr", "a finite number >= 0"),
    (edited(FACEWORLD, "protocol", {"lr": float("nan")}), "protocol.lr", "finite number >= 0.0; got nan"),
    (edited(FACEWORLD, "protocol", {"l2_weight": float("inf")}), "protocol.l2_weight", "finite number"),
    (edited(FACEWORLD, "protocol", {"inversion_lr": -float("inf")}), "protocol.inversion_lr", "finite"),
    (edited(FACEWORLD, "source.persons", 10**12), "source.persons", "from 1 to 1000; got 1000000000000"),
    (edited(FACEWORLD, "source.sessions", 10**4), "source.sessions",
     "at most 100; got 10000 (10000 sessions of 8 images of 32 px take 0.916 GiB as float32)"),
    (edited(FACEWORLD, "source.train_per_session", 10**5), "source.train_per_session",
     "at most 1000; got 100000 (100000 images of 32 px take 1.14 GiB as float32)"),
    (edited(FACEWORLD, "source.test_per_session", 1001), "source.test_per_session", "at most 1000; got 1001"),
    (edited(edited(edited(FACEWORLD, "resolution", 256), "source.sessions", 100), "source.train_per_session", 1000),
     "source", "at most 1 GiB as float32, 1365 images of 256 px; these are 100400 (100 sessions x 1004), 73.5 GiB"),
    (edited(FOLDER, "source.on_bad_image", "no"), "source.on_bad_image", "one of 'error', 'skip'"),
    (edited(FACEWORLD, "source.kind", "video"), "source.kind", "one of faceworld, folder"),
    (edited(FACEWORLD, "source.kind", 3), "source.kind", "one of faceworld, folder"),
    (edited(FACEWORLD, "source.world_seed", ...), "source.world_seed", "missing"),
    (edited(FACEWORLD, "source", ...), "source.kind", "missing"),
    (edited(FOLDER, "source.root", ...), "source.root", "missing (a string)"),
]
LIFE = {
    "looks": 3, "places": 4, "look_chain": {"keep": 0.7, "back": 0.1, "new": 0.2},
    "place_chain": {"keep": 0.4, "back": 0.45, "new": 0.15}, "wear": {"glasses": 0.4, "makeup": 0.5, "headwear": 0.2},
    "drift": {"greying": 0.4, "weight": 0.06}, "video": {"yaw": 0.35, "pitch": 0.15, "roll": 0.1, "light": 0.1},
}
LIVED = edited(FACEWORLD, "source.life", LIFE)
BAD_CARDS += [  # the life section: every key
    (edited(LIVED, "source.life.lokos", 3), "source.life.lokos", "unknown key (known here: looks, places"),
    (edited(LIVED, "source.life.looks", 0), "source.life.looks", "from 1 to 20; got 0"),
    (edited(LIVED, "source.life.places", 21), "source.life.places", "from 1 to 20; got 21"),
    (edited(LIVED, "source.life.places", 2.0), "source.life.places", "expected an integer"),
    (edited(LIVED, "source.life.look_chain.keep", -0.1), "source.life.look_chain.keep", "from 0 to 1; got -0.1"),
    (edited(LIVED, "source.life.look_chain.back", ...), "source.life.look_chain.back", "missing"),
    (edited(LIVED, "source.life.look_chain.new", 0.3), "source.life.look_chain",
     "keep + back + new must be 1; got 1.1"),
    (edited(LIVED, "source.life.place_chain.new", "often"), "source.life.place_chain.new", "expected a finite"),
    (edited(LIVED, "source.life.place_chain", [0.4, 0.45, 0.15]), "source.life.place_chain", "expected a mapping"),
    (edited(LIVED, "source.life.wear.glasses", 1.5), "source.life.wear.glasses", "from 0 to 1; got 1.5"),
    (edited(LIVED, "source.life.wear.makeup", True), "source.life.wear.makeup", "expected a finite number"),
    (edited(LIVED, "source.life.wear.headwear", float("nan")), "source.life.wear.headwear", "got nan"),
    (edited(LIVED, "source.life.drift.greying", 2), "source.life.drift.greying", "from 0 to 1; got 2"),
    (edited(LIVED, "source.life.drift.weight", 0.2), "source.life.drift.weight", "from 0 to 0.15; got 0.2"),
    (edited(LIVED, "source.life.video.yaw", 0.6), "source.life.video.yaw", "from 0 to 0.57; got 0.6"),
    (edited(LIVED, "source.life.video.pitch", 0.4), "source.life.video.pitch", "from 0 to 0.33"),
    (edited(LIVED, "source.life.video.roll", -0.1), "source.life.video.roll", "from 0 to 0.24"),
    (edited(LIVED, "source.life.video.light", 0.2), "source.life.video.light", "from 0 to 0.15"),
    (edited(LIVED, "source.life.video", ...), "source.life.video", "missing (a mapping)"),
    (edited(LIVED, "source.life", 3), "source.life", "expected a mapping, got 3"),
    (edited(FOLDER, "source.life", LIFE), "source.life", "unknown key (known here: kind, root"),
]

USER_MODELS = edited(FOLDER, "models", {"generator": {"kind": "stylegan2-rosinality", "path": "g.pt"},
                                         "encoder": "mean-latent", "perceptual": {"kind": "lpips", "net": "alex"},
                                         "identity": {"kind": "arcface-iresnet", "path": "a.pth", "layers": 50}})
BAD_CARDS += [  # the models section: every role
    (edited(USER_MODELS, "models.generatr", "faceworld"), "models.generatr", "unknown key (known here: generator"),
    (edited(USER_MODELS, "models.generator", "stylegan2"), "models.generator.kind",
     "must be one of faceworld, stylegan2-rosinality; got 'stylegan2'"),
    (edited(USER_MODELS, "models.generator.kind", ...), "models.generator.kind",
     "missing (one of: faceworld, stylegan2-rosinality)"),
    (edited(USER_MODELS, "models.generator.path", ...), "models.generator.path", "missing (a string)"),
    (edited(USER_MODELS, "models.generator.sha256", "abc"), "models.generator.sha256",
     "must be a string matching ^[0-9a-f]{64}$; got 'abc'"),
    (edited(USER_MODELS, "models.generator", 3), "models.generator", "expected a mapping, got 3"),
    (edited(USER_MODELS, "models.encoder", "faceworld"), "models",
     "the faceworld encoder maps into the faceworld generator's W only"),
    (edited(FOLDER, "models", {"encoder": {"kind": "e4e", "path": "e.pt"}}), "models",
     "the encoder 'e4e' needs a user's generator"),
    (edited(USER_MODELS, "models.encoder", {"kind": "mean-latent", "path": "x"}), "models.encoder.path",
     "unknown key (known here: kind)"),
    (edited(USER_MODELS, "models.perceptual", "lpips"), "models.perceptual.net", "missing (one of 'vgg', 'alex')"),
    (edited(USER_MODELS, "models.perceptual.net", "squeeze"), "models.perceptual.net", "one of 'vgg', 'alex'"),
    (edited(USER_MODELS, "models.identity.layers", 101), "models.identity.layers", "one of 18, 34, 50, 100; got 101"),
    (edited(USER_MODELS, "models.identity.kind", "arcface"), "models.identity.kind",
     "one of faceworld, dlib, arcface-iresnet"),
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


def test_the_protocol_section_has_the_protocol_settings_and_their_defaults(write_card):
    from dataclasses import asdict

    from facebench.protocol import Protocol

    defaults = asdict(Protocol())
    assert load_card(write_card(FACEWORLD, "a")).data["protocol"] == defaults
    given = load_card(write_card(edited(FACEWORLD, "protocol", {"lr": 1}), "b")).data["protocol"]
    assert given == {**defaults, "lr": 1} and type(given["lr"]) is int  # hashed as written
    too_few = r"c\.yaml: protocol\.steps_per_session: must be an integer >= 1"
    with pytest.raises(CardError, match=too_few):
        load_card(write_card(edited(FACEWORLD, "protocol", {"steps_per_session": 0}), "c"))
    written = write_card(FACEWORLD, "d")
    written.write_text(written.read_text() + "protocol:\n  lr: 1e-3\n")
    assert load_card(written).data["protocol"]["lr"] == 1e-3


def test_an_unknown_key_is_reported_before_the_key_it_misspells(write_card):
    typo = edited(edited(FACEWORLD, "source.persons", ...), "source.persnos", 2)
    with pytest.raises(CardError, match=r"source\.persnos: unknown key \(known here: .*persons"):
        load_card(write_card(typo))


BAD_YAML = [
    ("source: {kind: faceworld, world_seed: 0, persons: true, sessions: 1, train_per_session: 1, test_per_session: 1}",
     r"card.yaml: source\.persons: expected an integer from 1 to 1000, got True"),
    ("resolution: 32\nresolution: 64\nsource: {kind: faceworld, world_seed: 0, persons: 1, sessions: 1, "
     "train_per_session: 1, test_per_session: 1}",
     r"card.yaml: not valid YAML at line 2: the key 'resolution' is given twice"),
]


@pytest.mark.parametrize("text, message", BAD_YAML, ids=["a YAML boolean is not an integer", "a key given twice"])
def test_yaml_that_reads_as_something_else_is_an_error(tmp_path, text, message):
    card = tmp_path / "card.yaml"
    card.write_text(text + "\n")
    with pytest.raises(CardError, match=message):
        load_card(card)


def sized(**sizes) -> dict:
    """FACEWORLD (32 px: 12 KiB an image as float32) with the source sizes ``sizes``."""
    return {**FACEWORLD, "source": {**FACEWORLD["source"], **sizes}}


def test_sizes_up_to_the_bounds_load(write_card):
    for card in (
        sized(persons=1000, sessions=10, train_per_session=200, test_per_session=1000),
        sized(sessions=100, train_per_session=1, test_per_session=1),
        sized(sessions=50, train_per_session=1000, test_per_session=747),  # 1 GiB less 376 KiB
    ):
        assert load_card(write_card(card)).data["source"] == card["source"]
    with pytest.raises(CardError, match=r"source: .* 87381 images of 32 px; these are 87400 \(50 sessions x 1748\)"):
        load_card(write_card(sized(sessions=50, train_per_session=1000, test_per_session=748)))


def test_an_error_quotes_at_most_a_few_dozen_characters_on_one_line(write_card):
    for card in (
        edited(FACEWORLD, "description", ["x" * 100] * 100),
        edited(FACEWORLD, "description", {"deep": [[[["x" * 10_000]]]]}),
        edited(FACEWORLD, "source.kind", "video\n" * 1000),
        edited(FACEWORLD, "line one\nline two " * 500, 1),
        edited(FACEWORLD, "protocol", {"lr": "x" * 10_000}),
    ):  # each under the 16 KiB of a card
        with pytest.raises(CardError) as error:
            load_card(write_card(card))
        message = str(error.value)
        assert "\n" not in message and len(message) < len(str(write_card(card))) + 200


BILLION_LAUGHS = "\n".join(
    ["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"{chr(98 + n)}: &{chr(98 + n)} [{', '.join([f'*{chr(97 + n)}'] * 9)}]" for n in range(8)]
    + ["description: *i"]
)

YAML_LIMITS = [
    # (id, card text, words in the one-line error)
    ("an alias bomb", BILLION_LAUGHS, "not valid YAML at line 2: an alias (*name) is not allowed in a card"),
    ("one alias", "description: &d hello\nprotocol: {lr: *d}", "line 2: an alias (*name) is not allowed"),
    ("a merge key", "protocol: {<<: {lr: 1}}", "line 1: a merge key (<<) is not allowed"),
    ("deep nesting", "description: " + "[" * 1000 + "]" * 1000, "line 1: nested more than 16 levels deep"),
    ("a 5000-digit integer", "resolution: " + "9" * 5000, "line 1: an integer of more than 20 characters"),
    ("a base-60 integer", "resolution: " + ":".join(["59"] * 3000), "an integer of more than 20 characters"),
    ("an impossible date", "description: 2001-02-30", "line 1: cannot read this value: day is out of range"),
    ("a tag on the wrong value", "description: !!bool maybe", "line 1: cannot read this value"),
    ("an escaped lone surrogate", 'description: "\\ud800"', "line 1: a string holding NUL or a lone surrogate"),
    ("an escaped NUL", 'source: {kind: folder, root: "a\\0b"}', "line 1: a string holding NUL"),
    ("an unhashable key", "? [1, 2]\n: 3", "line 1: found unhashable key"),
    ("a control character", "description: ok\nresolution: \x01", "line 2: character #x0001 is not allowed"),
    ("a huge card", "description: " + "x" * 20_000, "too large: a card is at most 16 KiB"),
]


@pytest.mark.parametrize("text, words", [case[1:] for case in YAML_LIMITS], ids=[case[0] for case in YAML_LIMITS])
def test_yaml_beyond_a_cards_needs_is_refused_at_once_on_one_line(tmp_path, text, words):
    import time

    card = tmp_path / "card.yaml"
    card.write_text(text + "\n")
    start = time.perf_counter()
    with pytest.raises(CardError) as error:
        load_card(card)
    assert time.perf_counter() - start < 1.0
    message = str(error.value)
    assert message.startswith(f"{card}: ") and words in message
    assert "\n" not in message and len(message) < len(str(card)) + 200


def test_a_life_section_is_validated_hashed_and_absent_by_default(write_card):
    card = load_card(write_card(LIVED, "lived")).data["source"]
    assert card["life"] == LIFE
    plain = load_card(write_card(FACEWORLD, "plain"))
    assert "life" not in plain.data["source"]  # a card without it keeps its hash
    assert load_card(write_card(edited(FACEWORLD, "source.life", None), "null")).sha256 == plain.sha256
    other = edited(LIVED, "source.life.video.yaw", 0.3)
    assert load_card(write_card(other, "other")).sha256 != load_card(write_card(LIVED, "lived")).sha256


def test_a_models_section_is_validated_hashed_and_absent_when_every_role_is_faceworlds(write_card):
    plain = load_card(write_card(FOLDER, "plain"))
    assert "models" not in plain.data  # a card without it keeps its hash
    zoo = dict.fromkeys(("generator", "encoder", "perceptual", "identity"), "faceworld")
    assert load_card(write_card(edited(FOLDER, "models", zoo), "zoo")).sha256 == plain.sha256
    assert load_card(write_card(edited(FOLDER, "models", {}), "empty")).sha256 == plain.sha256
    user = load_card(write_card(USER_MODELS, "user")).data["models"]
    assert user == {"generator": {"kind": "stylegan2-rosinality", "path": "g.pt", "sha256": None},
                    "encoder": {"kind": "mean-latent"}, "perceptual": {"kind": "lpips", "net": "alex"},
                    "identity": {"kind": "arcface-iresnet", "path": "a.pth", "sha256": None, "layers": 50}}
    dlib = load_card(write_card(edited(FOLDER, "models", {"identity": "dlib"}), "dlib"))
    assert dlib.data["models"]["identity"] == {"kind": "dlib"} and dlib.sha256 != plain.sha256
