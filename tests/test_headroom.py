"""The headroom check on the quick card: its figures follow their definitions, it fine-tunes through the
runs' template, and with enough steps personalisation helps on session 0 and naive fine-tuning forgets it."""

import math
from dataclasses import replace

import pytest
import torch

from facebench.data import load_scenario
from facebench.models import invert
from facebench.models.generic import GenericModels
from facebench.protocol import Protocol
from facebench.run.headroom import MIN_GAIN, MIN_LOST, headroom

FEW_STEPS = Protocol(steps_per_session=3, anchor_steps=2, eval_steps=2)


@pytest.fixture(autouse=True)
def _anchor_cache(tmp_path_factory, monkeypatch):
    monkeypatch.setenv("FACEBENCH_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="module")
def scenario():
    return load_scenario("faceworld-quick")


@pytest.fixture(scope="module")
def models():
    return GenericModels.load(64)


def test_figures_follow_their_definitions(scenario, models):
    generic = {k: v.clone() for k, v in models.generator.state_dict().items()}
    result = headroom(scenario, 0, FEW_STEPS, seed=0, models=models)

    test = scenario.sessions("0")[0].test.images
    _, recon = invert(models.generator, models.encoder, test, steps=2, lr=FEW_STEPS.inversion_lr,
                      perceptual=models.perceptual, l2_weight=FEW_STEPS.l2_weight)
    with torch.no_grad():
        assert result["d_generic"] == pytest.approx(float(models.perceptual(recon, test).mean()), rel=1e-6)
    d0, d1, d_all = result["d_generic"], result["d_after_session0"], result["d_after_all"]
    assert all(math.isfinite(d) and d > 0 for d in (d0, d1, d_all))
    assert d1 != d0 and d_all != d1  # the template fine-tuned the copy, session 0 and then the others
    assert result["gain"] == pytest.approx((d0 - d1) / d0)
    assert result["lost_fraction"] == pytest.approx((d_all - d1) / (d0 - d1))
    assert result["passes"] == (result["gain"] >= MIN_GAIN and result["lost_fraction"] >= MIN_LOST)
    assert result["sessions"] == 3 and result["protocol"] == FEW_STEPS.as_dict()
    for k, v in models.generator.state_dict().items():  # the generic generator is left as it was
        torch.testing.assert_close(v, generic[k], rtol=0, atol=0)


def test_the_seed_draws_the_mini_batches(scenario, models):
    runs = [headroom(scenario, 0, FEW_STEPS, seed=seed, models=models) for seed in (0, 0, 1)]
    assert runs[0] == runs[1]
    assert runs[0]["d_generic"] == runs[2]["d_generic"]  # G0 and the anchors do not depend on the seed
    assert runs[0]["d_after_session0"] != runs[2]["d_after_session0"]


@pytest.mark.slow
def test_quick_card_has_headroom_to_personalise_and_to_forget(scenario, models):
    """The card's protocol but 50 steps per session (at its own 30, 1/3 of the gain is not quite lost)."""
    protocol = replace(Protocol.from_card(scenario.card), steps_per_session=50)
    result = headroom(scenario, 0, protocol, models=models)
    assert result["gain"] >= MIN_GAIN, result
    assert result["lost_fraction"] >= MIN_LOST, result
    assert result["passes"]
