"""facebench.protocol: the version it runs, the record a result file holds of a protocol
(version, settings and their hash), the scores of each version, and a card's section over the
defaults (the new settings of version 2 included)."""

import hashlib
import json
from dataclasses import fields, replace
from types import SimpleNamespace

import pytest

from facebench.protocol import SCORES, SCORES_OF_VERSION, VERSION, VERSIONS, Protocol, protocol_sha256


def test_this_facebench_runs_the_latest_version():
    assert VERSION == 2 and VERSION == max(VERSIONS) and set(VERSIONS) == {1, 2}
    assert set(SCORES_OF_VERSION) == set(VERSIONS)


def test_the_scores_of_each_version():
    assert SCORES_OF_VERSION[VERSION] == tuple(SCORES)
    assert SCORES_OF_VERSION[1] == ("recon_perceptual", "recon_identity", "recon_psnr", "recon_ssim", "synth_frechet",
                                    "synth_identity")
    assert set(SCORES) - set(SCORES_OF_VERSION[1]) == {"synth_kid"}
    assert SCORES["synth_kid"] == ("lower", 100)


def test_the_record_holds_the_version_the_settings_and_their_hash():
    protocol = Protocol(steps_per_session=3, joint_steps=9, eval_warm_steps=0)
    record = protocol.record()
    assert record == {"version": VERSION, "sha256": protocol_sha256(VERSION, protocol.as_dict()),
                      "settings": protocol.as_dict()}
    assert {"joint_steps", "eval_warm_steps"} <= set(record["settings"]) == {f.name for f in fields(Protocol)}
    canonical = json.dumps({"version": VERSION, "settings": protocol.as_dict()}, sort_keys=True, separators=(",", ":"))
    assert record["sha256"] == hashlib.sha256(canonical.encode()).hexdigest()
    json.dumps(record, allow_nan=False)  # a result file can hold it as it is


def test_the_hash_names_the_version_and_every_setting_but_not_their_order():
    settings = Protocol().as_dict()
    assert protocol_sha256(2, settings) == protocol_sha256(2, dict(reversed(list(settings.items()))))
    assert protocol_sha256(1, settings) != protocol_sha256(2, settings)
    for name in settings:
        changed = replace(Protocol(), **{name: settings[name] * 2 + 1})
        assert changed.record()["sha256"] != Protocol().record()["sha256"], name


def test_a_cards_section_sets_values_over_the_defaults():
    card = SimpleNamespace(data={"protocol": {"joint_steps": 12, "eval_warm_steps": 0, "steps_per_session": 4}})
    protocol = Protocol.from_card(card)
    assert (protocol.joint_steps, protocol.eval_warm_steps, protocol.steps_per_session) == (12, 0, 4)
    assert protocol.eval_steps == Protocol().eval_steps and Protocol.from_card(None) == Protocol()
    assert Protocol.from_card(SimpleNamespace(data={})) == Protocol()


@pytest.mark.parametrize("card", ["faceworld-quick", "faceworld", "faceworld-dev"])
def test_the_stock_cards_protocols_are_version_2_protocols(card):
    from facebench.data.cards import load_card

    protocol = Protocol.from_card(load_card(card))
    assert protocol.joint_steps >= protocol.steps_per_session > 0 and protocol.eval_steps > 0
    assert protocol.eval_warm_steps >= 0
    assert protocol.record()["version"] == VERSION
