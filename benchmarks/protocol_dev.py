"""Protocol-v2 groundwork on the development card: how converged are the evaluation's inversion
and the fine-tuning's steps per session under the v1 settings?

Run from the checkout's root (minutes on 2 cores):

    .venv/bin/python benchmarks/protocol_dev.py [--person 0] [--out docs/protocol-dev.json]

On one person of ``faceworld-dev`` (a card no board uses), with the shipped generic models:

1. Inversion convergence. The first ``IMAGES_PER_SESSION`` test images of sessions 0..2 are inverted (encoder
   start, Adam on w, lr ``inversion_lr``, loss perceptual + ``l2_weight`` * L2, as
   ``facebench.models.invert``) into (a) the generic generator G0 and (b) G0 fine-tuned naively
   on sessions 0, 1, 2 (v1: 50 steps each, the runs' template). After S steps, for S in
   ``INVERSION_STEPS``: the mean reconstruction perceptual distance, identity similarity and
   PSNR. ``rel_change[S]`` = |score(4S) - score(S)| / |score(4S)|, for every S whose 4S is measured.
2. Steps per session. G1 = G0 fine-tuned on session 0 (v1, 50 steps); G1 is then fine-tuned on
   session 1 by the runs' template, snapshotted after S steps for S in ``FINETUNE_STEPS``. Each
   snapshot's reconstruction perceptual distance of session 1's test images (and of session 0's:
   what the new session costs the old one) is measured with ``EVAL_STEPS`` inversion steps.
   ``improvement(S)`` = d(G1) - d(G1 after S steps) on session 1, and
   ``ratio[S]`` = improvement(S) / improvement(4S).

Nothing here changes the protocol: the figures are what protocol v2 will be chosen from.
"""

from __future__ import annotations

import argparse
import copy
import json
import time
from pathlib import Path

import torch
from avalanche.core import SupervisedPlugin

from facebench import metrics
from facebench.data import load_scenario
from facebench.data.items import items_dataset
from facebench.models.generic import GenericModels
from facebench.models.losses import reconstruction_loss
from facebench.protocol import Protocol
from facebench.run.anchors import person_anchors
from facebench.run.template import PersonalizationTemplate, training_stream
from facebench.seeding import seed_globals

CARD = "faceworld-dev"
INVERSION_STEPS = (10, 25, 40, 50, 100, 160, 200, 400, 800)
FINETUNE_STEPS = (12, 25, 50, 100, 200, 400, 800, 1600)
EVAL_STEPS = 200
IMAGES_PER_SESSION = 7
"""Test images per session (of sessions 0..2) in the inversion curves."""


def inversion_curve(generator, models: GenericModels, images: torch.Tensor, protocol: Protocol,
                    identity_refs: torch.Tensor) -> dict[int, dict[str, float]]:
    """Scores of the reconstructions after each S in INVERSION_STEPS steps of one inversion."""
    generator.requires_grad_(False)
    with torch.no_grad():
        w = models.encoder(images).detach()
    w.requires_grad_(True)
    optimizer = torch.optim.Adam([w], lr=protocol.inversion_lr)
    curve = {}
    for step in range(1, max(INVERSION_STEPS) + 1):
        optimizer.zero_grad(set_to_none=True)
        reconstruction_loss(models.perceptual, generator.synthesis(w), images, protocol.l2_weight).sum().backward()
        optimizer.step()
        if step in INVERSION_STEPS:
            with torch.no_grad():
                recon = generator.synthesis(w).clamp(0, 1)
                curve[step] = {
                    "perceptual": float(models.perceptual(recon, images).mean()),
                    "identity": float((identity_refs * models.identity(recon)).sum(1).mean()),
                    "psnr": float(torch.as_tensor(metrics.psnr(recon, images)).mean()),
                }
    generator.requires_grad_(True)
    return curve


def relative_changes(curve: dict[int, dict[str, float]]) -> dict[int, dict[str, float]]:
    """|score(4S) - score(S)| / |score(4S)| for every S whose 4S is in the curve."""
    return {s: {k: abs(curve[4 * s][k] - v) / abs(curve[4 * s][k]) for k, v in curve[s].items()}
            for s in curve if 4 * s in curve}


class Snapshots(SupervisedPlugin):
    """Keeps a copy of the model's weights after each step count in ``at``."""

    def __init__(self, at):
        super().__init__()
        self.at, self.done, self.weights = set(at), 0, {}

    def after_training_iteration(self, strategy, **kwargs):
        self.done += 1
        if self.done in self.at:
            self.weights[self.done] = copy.deepcopy(strategy.model.state_dict())


def finetune(generator, models, datasets, protocol, steps, plugins=()):
    template = PersonalizationTemplate(synthesis=generator.synthesis, perceptual=models.perceptual,
                                       protocol=protocol, plugins=list(plugins), steps=steps)
    for experience in training_stream(datasets):
        template.train(experience, eval_streams=[])
    return template


def distance(generator, models, images, protocol, steps) -> float:
    from facebench.models import invert

    _, recon = invert(generator, models.encoder, images, steps=steps, lr=protocol.inversion_lr,
                      perceptual=models.perceptual, l2_weight=protocol.l2_weight)
    with torch.no_grad():
        return float(models.perceptual(recon, images).mean())


def dev_person(card: str, person: str, protocol=None):
    """(scenario, protocol, generic models, sessions, per-session datasets of (anchor, image)) of
    ``person`` of ``card``; ``protocol`` defaults to the card's."""
    scenario = load_scenario(card)
    protocol = protocol or Protocol.from_card(scenario.card)
    models = GenericModels.load(scenario.card.data["resolution"])
    sessions = scenario.sessions(person)
    anchors = person_anchors(models, scenario, person, protocol)
    own = [items_dataset(a, s.train.images, t) for t, (a, s) in enumerate(zip(anchors, sessions))]
    return scenario, protocol, models, sessions, own


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--person", default="0")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="docs/protocol-dev.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    scenario, protocol, models, sessions, own = dev_person(CARD, args.person)
    report = {"card": CARD, "card_sha256": scenario.card.sha256, "person": args.person, "protocol_v1": protocol.as_dict(),
              "threads": args.threads}

    tests = torch.cat([s.test.images[:IMAGES_PER_SESSION] for s in sessions[:3]])
    with torch.no_grad():
        refs = models.identity(tests)
    seed_globals(0)
    tuned = copy.deepcopy(models.generator).requires_grad_(True)
    finetune(tuned, models, own[:3], protocol, protocol.steps_per_session)
    report["inversion"] = {}
    for name, generator in (("generic", models.generator), ("naive after sessions 0-2", tuned)):
        curve = inversion_curve(generator, models, tests, protocol, refs)
        report["inversion"][name] = {"curve": curve, "rel_change_vs_4x": relative_changes(curve)}
        print(name, {s: round(v["perceptual"], 4) for s, v in curve.items()}, flush=True)

    seed_globals(0)
    g1 = copy.deepcopy(models.generator).requires_grad_(True)
    finetune(g1, models, own[:1], protocol, protocol.steps_per_session)
    before = {k: distance(g1, models, sessions[k].test.images, protocol, EVAL_STEPS) for k in (0, 1)}
    snaps = Snapshots(FINETUNE_STEPS)
    seed_globals(1)
    work = copy.deepcopy(g1)
    finetune(work, models, own[1:2], protocol, max(FINETUNE_STEPS), plugins=[snaps])
    rows = {}
    for steps, weights in sorted(snaps.weights.items()):
        work.synthesis.load_state_dict(weights)
        rows[steps] = {f"session{k}": distance(work, models, sessions[k].test.images, protocol, EVAL_STEPS)
                       for k in (0, 1)}
        print(steps, rows[steps], flush=True)
    improvement = {s: before[1] - r["session1"] for s, r in rows.items()}
    report["steps_per_session"] = {
        "eval_steps": EVAL_STEPS, "before": before, "after": rows, "improvement": improvement,
        "ratio_vs_4x": {s: improvement[s] / improvement[4 * s] for s in improvement if 4 * s in improvement},
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    print(f"wrote {args.out} ({report['seconds']} s)")


if __name__ == "__main__":
    main()
