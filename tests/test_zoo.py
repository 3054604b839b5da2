"""The shipped zoo: every asset loads as an eval-mode module with its card; corruption and absence are clear errors."""

import hashlib
import json
import re
import shutil

import numpy as np
import pytest
import torch

from facebench.data.faceworld import Population
from facebench.models import AssetError, Encoder, Generator, IdentityNet, PerceptualDistance, cards, load
from facebench.models.perceptual import STRENGTHS, distortion_curves
from facebench.models.pretrain import HELD_OUT
from facebench.models.zoo import zoo_dir


@pytest.fixture(scope="module")
def held_out_images():
    ids = HELD_OUT + 900 + np.arange(16)
    return Population(0).render(ids, np.zeros(16), np.zeros(16), 64)[0]


@pytest.mark.parametrize("name, cls", [("generator", Generator), ("encoder", Encoder),
                                       ("identity", IdentityNet), ("perceptual", PerceptualDistance)])
def test_every_asset_loads_in_eval_mode(name, cls):
    module = load(name)
    assert isinstance(module, cls) and not module.training


def test_cards_state_what_the_issue_asks():
    found = {c["name"]: c for c in cards()}
    assert set(found) == {"generator", "encoder", "identity", "perceptual"}
    for c in found.values():
        for field in ("sha256", "command", "train_seconds", "figures", "size_bytes", "resolution", "summary"):
            assert field in c, (c["name"], field)
        assert c["command"].startswith(f"facebench pretrain ")
    assert all(found["perceptual"]["figures"]["monotonic"].values())
    assert sum(c["size_bytes"] for c in found.values()) <= 25e6


def test_identity_card_meets_the_verification_target():
    assert load_card_figures("identity")["verification_accuracy"] >= 0.95


def load_card_figures(name):
    return next(c for c in cards() if c["name"] == name)["figures"]


def _copy_zoo(tmp_path):
    for p in zoo_dir().iterdir():
        if p.suffix in (".json", ".safetensors"):
            shutil.copy(p, tmp_path / p.name)
    return tmp_path


def test_a_corrupt_asset_is_an_error_naming_it_and_its_rebuild_command(tmp_path):
    folder = _copy_zoo(tmp_path)
    data = bytearray((folder / "identity.safetensors").read_bytes())
    data[-10:] = bytes(b ^ 0xFF for b in data[-10:])
    (folder / "identity.safetensors").write_bytes(bytes(data))
    with pytest.raises(AssetError, match=r"identity .*corrupt.*facebench pretrain identity"):
        load("identity", folder=folder)
    load("perceptual", folder=folder)  # the others are untouched


def test_a_missing_asset_is_an_error_naming_it_and_its_rebuild_command(tmp_path):
    folder = _copy_zoo(tmp_path)
    (folder / "encoder.safetensors").unlink()
    with pytest.raises(AssetError, match=r"encoder .*missing.*facebench pretrain generator"):
        load("encoder", folder=folder)


def test_another_resolution_is_an_error_naming_it():
    with pytest.raises(AssetError, match=r"generator asset at 128 px.*64 px.*pretrain generator --resolution 128"):
        load("generator", resolution=128)


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(AssetError, match="generator, encoder, identity, perceptual"):
        load("lpips")


def test_card_records_the_asset_hash(tmp_path):
    folder = _copy_zoo(tmp_path)
    card = json.loads((folder / "generator.json").read_text())
    card["sha256"] = "0" * 64
    (folder / "generator.json").write_text(json.dumps(card))
    with pytest.raises(AssetError, match="corrupt"):
        load("generator", folder=folder)


def _replace_asset(folder, name, data: bytes) -> None:
    """Write ``data`` as asset ``name``'s file, its card's sha256 updated to match (so the hash check passes)."""
    (folder / f"{name}.safetensors").write_bytes(data)
    card = json.loads((folder / f"{name}.json").read_text())
    card["sha256"] = hashlib.sha256(data).hexdigest()
    (folder / f"{name}.json").write_text(json.dumps(card))


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_malformed_safetensors_file_is_an_asset_error_naming_it_and_its_rebuild_command(tmp_path, damage):
    folder = _copy_zoo(tmp_path)
    data = (folder / "identity.safetensors").read_bytes()
    _replace_asset(folder, "identity", {"truncated": data[: len(data) // 2], "garbage": b"\x07" * 4096,
                                        "empty": b""}[damage])
    with pytest.raises(AssetError, match=rf"asset identity \({re.escape(str(folder))}/identity.safetensors\) is not "
                                         r"a readable safetensors file \(.*\); rebuild it with: facebench pretrain identity$"):
        load("identity", folder=folder)


def test_weights_that_do_not_fit_the_cards_config_are_an_asset_error(tmp_path):
    folder = _copy_zoo(tmp_path)
    _replace_asset(folder, "identity", (folder / "perceptual.safetensors").read_bytes())
    with pytest.raises(AssetError, match=r"asset identity .* does not fit the config of its card .*identity\.json\): "
                                         r"Error\(s\) in loading state_dict .*; rebuild it with: facebench pretrain identity$"):
        load("identity", folder=folder)


@pytest.mark.parametrize("text, problem", [
    ('{"name": "encoder", ', "is not valid JSON"),
    ("\xff\xfe garbage", "is not valid JSON"),
    ("[1, 2]", "is not a JSON object"),
    ('{"name": "encoder", "resolution": 64}', "lacks the key(s) file, sha256, config, parameters, size_bytes, "
                                               "command, train_seconds"),
])
def test_a_malformed_card_is_an_asset_error_naming_it_and_its_rebuild_command(tmp_path, text, problem):
    folder = _copy_zoo(tmp_path)
    (folder / "encoder.json").write_bytes(text.encode("latin-1"))
    expected = rf"^model card {re.escape(str(folder))}/encoder\.json {re.escape(problem)}.*; " \
               r"rebuild it with: facebench pretrain generator$"
    with pytest.raises(AssetError, match=expected):
        load("encoder", folder=folder)
    with pytest.raises(AssetError, match=expected):  # `facebench models` lists every card
        cards(folder)


def test_a_malformed_card_of_another_resolution_or_of_no_asset_says_so(tmp_path):
    (tmp_path / "generator-128px.json").write_text("{}")
    with pytest.raises(AssetError, match=r"generator-128px\.json lacks .*facebench pretrain generator --resolution 128$"):
        cards(tmp_path)
    (tmp_path / "generator-128px.json").unlink()
    (tmp_path / "notes.json").write_text("{}")
    with pytest.raises(AssetError, match=r"notes\.json lacks .*; it names none of the zoo's assets \(generator, "
                                         r"encoder, identity, perceptual\): remove it$"):
        cards(tmp_path)


def test_identity_maps_a_scenario_batch_to_unit_embeddings(held_out_images):
    with torch.no_grad():
        e = load("identity")(held_out_images)
    assert e.shape == (16, 128)
    torch.testing.assert_close(e.norm(dim=1), torch.ones(16))


def test_identity_tells_persons_apart_across_sessions(held_out_images):
    ids = HELD_OUT + 900 + np.arange(16)
    other_session = Population(0).render(ids, np.ones(16), np.full(16, 5), 64)[0]
    with torch.no_grad():
        net = load("identity")
        sim = net(held_out_images) @ net(other_session).t()
    same = sim.diagonal().clone()
    different = sim[~torch.eye(16, dtype=torch.bool)]
    assert same.mean() - different.mean() >= 0.2
    nearest = sim.argmax(dim=1)
    assert (nearest == torch.arange(16)).float().mean() >= 0.5  # rank-1 retrieval among 16 (chance: 1/16)


def test_perceptual_distance_grows_with_blur_noise_and_shift_and_is_zero_for_identical(held_out_images):
    net = load("perceptual")
    with torch.no_grad():
        assert torch.all(net(held_out_images, held_out_images) == 0)
    curves = distortion_curves(net, held_out_images)
    for kind in STRENGTHS:
        assert np.all(np.diff(curves[kind]["distance"]) > 0), (kind, curves[kind])
