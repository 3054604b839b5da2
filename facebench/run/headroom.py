"""The headroom check: is there something to personalise, and something to forget?

It runs a naive run's recipe on one person of a scenario, with the generic models of the card's
resolution (``facebench.models.generic.GenericModels``: generator G0, encoder E, perceptual
distance P) and a ``facebench.protocol.Protocol`` (by default the card's):

1. anchors: the person's training images of every session inverted into G0 once
   (``facebench.run.anchors.person_anchors``: ``anchor_steps`` steps, cached as a run's are);
2. d(G) = mean over session 0's test images of P(reconstruction, image), the reconstruction being
   the inversion into G (encoder start, ``eval_steps`` steps of lr ``inversion_lr``): the
   evaluator's ``recon_perceptual`` of session 0 without warm starts;
3. G1 = G0 fine-tuned on session 0's anchors by the runs' template
   (``facebench.run.template.PersonalizationTemplate``, no plugins: all generator weights, Adam
   lr ``lr``, loss perceptual + ``l2_weight`` * L2, ``steps_per_session`` mini-batches of
   ``batch_new`` anchors drawn by the template's shuffling data loader); G_T = G1 then fine-tuned
   on sessions 1 .. T-1 in turn, ``steps_per_session`` steps each, by the same template (a fresh
   Adam for every session, as in a run);
4. gain = (d(G0) - d(G1)) / d(G0)      -- must be >= MIN_GAIN (personalisation helps);
   lost = (d(G_T) - d(G1)) / (d(G0) - d(G1))   -- must be >= MIN_LOST (naive fine-tuning
   forgets); NaN when d(G1) >= d(G0) (no gain to lose).

The global random generators (which the data loader draws from) are seeded with ``seed`` after
the anchors, as a run seeds them.
"""

from __future__ import annotations

import copy
from dataclasses import replace

import torch

from facebench.data import load_scenario
from facebench.data.items import items_dataset
from facebench.models import invert
from facebench.models.generic import GenericModels
from facebench.protocol import Protocol
from facebench.run.anchors import person_anchors
from facebench.run.template import PersonalizationTemplate, training_stream
from facebench.seeding import seed_globals

MIN_GAIN, MIN_LOST = 0.25, 1 / 3


def _distance(generator, models: GenericModels, images: torch.Tensor, protocol: Protocol) -> float:
    """d(G) of the module docstring: mean P(inversion of ``images`` into ``generator``, images)."""
    images = images.to(models.device)
    _, recon = invert(generator, models.encoder, images, steps=protocol.eval_steps, lr=protocol.inversion_lr,
                      perceptual=models.perceptual, l2_weight=protocol.l2_weight)
    with torch.no_grad():
        return float(models.perceptual(recon, images).mean())


def headroom(scenario, person: int | str = 0, protocol: Protocol | None = None, seed: int = 0,
             models: GenericModels | None = None) -> dict:
    """Run the check (module docstring) on ``person`` of ``scenario`` (``facebench.data.Scenario``).

    ``protocol``: default the card's (``Protocol.from_card``); ``models``: default the models the
    card names (``GenericModels.for_card``) on the CPU. Returns the figures, the settings and the verdict.
    """
    protocol = protocol or Protocol.from_card(scenario.card)
    models = models or GenericModels.for_card(scenario.card)
    person = str(person)
    sessions = scenario.sessions(person)
    anchors = person_anchors(models, scenario, person, protocol)
    seed_globals(seed)
    tuned = copy.deepcopy(models.generator).requires_grad_(True)
    template = PersonalizationTemplate(synthesis=tuned.synthesis, perceptual=models.perceptual, protocol=protocol,
                                       plugins=[], device=str(models.device))
    stream = training_stream([items_dataset(a, s.train.images, t) for t, (a, s) in enumerate(zip(anchors, sessions))])
    test = sessions[0].test.images
    d0 = _distance(models.generator, models, test, protocol)
    for t, experience in enumerate(stream):
        template.train(experience, eval_streams=[])
        if t == 0:
            d1 = _distance(tuned, models, test, protocol)
    d_final = _distance(tuned, models, test, protocol)
    gain = (d0 - d1) / d0
    lost = (d_final - d1) / (d0 - d1) if d0 > d1 else float("nan")
    return {"card": scenario.name, "person": person, "sessions": len(sessions), "protocol": protocol.as_dict(),
            "seed": seed, "d_generic": d0, "d_after_session0": d1, "d_after_all": d_final, "gain": gain,
            "lost_fraction": lost, "passes": bool(gain >= MIN_GAIN and lost >= MIN_LOST)}


def headroom_on_card(card: str = "faceworld", person: int | str = 0, seed: int = 0, device: str = "cpu",
                     **settings) -> dict:
    """``headroom`` on person ``person`` of the scenario card ``card`` (a stock name or a path), with
    the card's protocol but for ``settings`` (``Protocol`` fields, e.g. ``steps_per_session=100``)
    and the generic models on ``device``."""
    scenario = load_scenario(card)
    protocol = replace(Protocol.from_card(scenario.card), **settings)
    models = GenericModels.for_card(scenario.card, device)
    return headroom(scenario, person, protocol, seed, models)
