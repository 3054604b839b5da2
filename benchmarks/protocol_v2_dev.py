"""Protocol v2 choices, measured on the development card (``faceworld-dev``, never on a board).

Run from the checkout's root (about half an hour on 2 cores):

    .venv/bin/python benchmarks/protocol_v2_dev.py [--person 0] [--out docs/protocol-v2-dev.json]

Every part is a measurement that a protocol v2 setting is chosen from by a rule stated in
``docs/protocol-v2.md`` before the numbers were read; nothing here changes the protocol.
d(G, images, S, lr) is the mean perceptual distance of the images' reconstructions after S steps
of inversion (encoder start, Adam on w with learning rate lr, loss perceptual + L2) into G.

1. ``inversion``: for lr in ``INVERSION_LRS``, the first ``IMAGES_PER_SESSION`` test images of
   sessions 0..2 inverted into G0 and into G0 fine-tuned naively on sessions 0..2; d after each S
   in ``INVERSION_STEPS``; ``rel_change[S]`` = |d(4S) - d(S)| / d(4S).
2. ``warm_start``: M_0..M_3 = G0 fine-tuned naively on sessions 0..3 in turn (``SESSION_STEPS``
   each). Session 0's test images are inverted into M_0 (cold, S steps), then into M_1, M_2,
   M_3, each starting from the latents found for the previous model (S steps each): d_warm(M_3).
   Beside it, cold inversions into M_3 with S and 4S steps. For S in ``WARM_STEPS``, each lr.
3. ``optimizer``: G1 = G0 fine-tuned on session 0 (``SESSION_STEPS``); then on session 1 with
   (a) a fresh Adam, (b) the Adam state of session 0 carried over; snapshots after S steps for S
   in ``FINETUNE_STEPS``: d on session 1 (the new session) and on session 0 (the old one), each
   with ``EVAL`` inversion settings. ``ratio[S]`` = improvement(S) / improvement(4S),
   improvement(S) = d(G1, session 1) - d(after S steps, session 1).
5. ``scheme``: the evaluation of protocol v2 (``SCHEME``: a test image's first inversion from the
   encoder for ``first`` steps, each later one from its previous latent for ``warm`` steps).
   Session 0's test images inverted cold for ``first`` steps into G0, M_0 and M_3, each against
   a cold inversion 4 x ``first`` steps long into the same model; and inverted by the scheme
   through M_0 (cold, ``first``), M_1, M_2, M_3 (warm), against M_3's 4 x ``first``.
4. ``joint``: G0 fine-tuned on all sessions' anchors at once (mini-batches of 4), snapshots
   after S in ``JOINT_STEPS``; d on the first ``JOINT_IMAGES`` test images of every session
   (``EVAL`` settings); ``ratio[S]`` as in 3, against G0.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch

from facebench.data import load_scenario
from facebench.data.items import items_dataset
from facebench.models.generic import GenericModels
from facebench.models.losses import reconstruction_loss
from facebench.protocol import Protocol
from facebench.run.anchors import person_anchors
from facebench.run.template import PersonalizationTemplate, training_stream
from facebench.seeding import seed_globals

sys.path.insert(0, str(Path(__file__).resolve().parent))
from protocol_dev import Snapshots, relative_changes  # noqa: E402

CARD = "faceworld-dev"
INVERSION_LRS = (0.05, 0.1, 0.2)
INVERSION_STEPS = (25, 50, 100, 200, 400)
WARM_STEPS = (25, 50)
SESSION_STEPS = 100
FINETUNE_STEPS = (100, 200, 400, 800, 1600)
JOINT_STEPS = (500, 1000, 2000, 4000)
JOINT_IMAGES = 2
IMAGES_PER_SESSION = 7
EVAL = {"steps": 100, "lr": 0.1}
"""Inversion settings of parts 3 and 4 (chosen from part 1's curves before parts 3-4 were read)."""
SCHEME = {"first": 400, "warm": 50, "lr": 0.1}
"""The evaluation scheme part 5 measures (chosen from parts 1-2 before part 5 ran)."""


def invert_from(generator, models, images, w0, steps, lr, record=()):
    """Latents after ``steps`` Adam steps from ``w0``; d after each step count in ``record``."""
    generator.requires_grad_(False)
    w = w0.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([w], lr=lr)
    seen = {}
    for step in range(1, steps + 1):
        optimizer.zero_grad(set_to_none=True)
        reconstruction_loss(models.perceptual, generator.synthesis(w), images, 1.0).sum().backward()
        optimizer.step()
        if step in record:
            seen[step] = d_of(generator, models, images, w)
    generator.requires_grad_(True)
    return w.detach(), seen


def d_of(generator, models, images, w) -> float:
    with torch.no_grad():
        return float(models.perceptual(generator.synthesis(w).clamp(0, 1), images).mean())


def encode(models, images):
    with torch.no_grad():
        return models.encoder(images)


def d_eval(generator, models, images) -> float:
    w, _ = invert_from(generator, models, images, encode(models, images), EVAL["steps"], EVAL["lr"])
    return d_of(generator, models, images, w)


def train(generator, models, datasets, protocol, steps, template=None, plugins=(), batch=None):
    template = template or PersonalizationTemplate(synthesis=generator.synthesis, perceptual=models.perceptual,
                                                   protocol=protocol, plugins=list(plugins), steps=steps,
                                                   batch_size=batch)
    for experience in training_stream(datasets):
        template.train(experience, eval_streams=[])
    return template


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--person", default="0")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--parts", default="inversion,warm_start,optimizer,scheme,joint")
    parser.add_argument("--out", default="docs/protocol-v2-dev.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    report = json.loads(out.read_text()) if out.exists() else {}
    scenario = load_scenario(CARD)
    protocol = replace(Protocol.from_card(scenario.card), steps_per_session=SESSION_STEPS)
    models = GenericModels.load(scenario.card.data["resolution"])
    sessions = scenario.sessions(args.person)
    anchors = person_anchors(models, scenario, args.person, protocol)
    own = [items_dataset(a, s.train.images, t) for t, (a, s) in enumerate(zip(anchors, sessions))]
    report.update({"card": CARD, "card_sha256": scenario.card.sha256, "person": args.person,
                   "threads": args.threads, "session_steps": SESSION_STEPS, "eval": EVAL})

    def save(part, value, started):
        report[part] = {**value, "seconds": round(time.perf_counter() - started, 1)}
        out.write_text(json.dumps(report, indent=1) + "\n")
        print(part, "done", report[part]["seconds"], "s", flush=True)

    parts = args.parts.split(",")
    naive = []  # M_0..M_3, for the parts that use them
    if {"inversion", "warm_start", "scheme"} & set(parts):
        seed_globals(0)
        model = copy.deepcopy(models.generator).requires_grad_(True)
        for t in range(4):
            train(model, models, own[t:t + 1], protocol, SESSION_STEPS)
            naive.append(copy.deepcopy(model))

    if "inversion" in parts:
        started = time.perf_counter()
        tests = torch.cat([s.test.images[:IMAGES_PER_SESSION] for s in sessions[:3]])
        result = {}
        for name, generator in (("generic", models.generator), ("naive after sessions 0-2", naive[2])):
            for lr in INVERSION_LRS:
                _, curve = invert_from(generator, models, tests, encode(models, tests), max(INVERSION_STEPS), lr,
                                       INVERSION_STEPS)
                curve = {s: {"perceptual": v} for s, v in curve.items()}
                result[f"{name}, lr {lr}"] = {"curve": curve, "rel_change_vs_4x": relative_changes(curve)}
                print(name, lr, {s: round(v["perceptual"], 4) for s, v in curve.items()}, flush=True)
        save("inversion", result, started)

    if "warm_start" in parts:
        started = time.perf_counter()
        images = sessions[0].test.images
        result = {}
        for lr in INVERSION_LRS:
            for steps in WARM_STEPS:
                w = encode(models, images)
                for generator in naive:
                    w, _ = invert_from(generator, models, images, w, steps, lr)
                warm = d_of(naive[-1], models, images, w)
                _, cold = invert_from(naive[-1], models, images, encode(models, images), 4 * steps, lr,
                                      (steps, 4 * steps))
                result[f"lr {lr}, S {steps}"] = {"warm": warm, "cold": cold[steps], "cold_4x": cold[4 * steps],
                                                 "warm_rel_vs_cold_4x": (warm - cold[4 * steps]) / cold[4 * steps]}
                print(lr, steps, result[f"lr {lr}, S {steps}"], flush=True)
        save("warm_start", result, started)

    if "optimizer" in parts:
        started = time.perf_counter()
        result = {}
        for policy in ("fresh", "carried"):
            seed_globals(0)
            g1 = copy.deepcopy(models.generator).requires_grad_(True)
            template = train(g1, models, own[:1], protocol, SESSION_STEPS)
            before = {k: d_eval(g1, models, sessions[k].test.images) for k in (0, 1)}
            snaps = Snapshots(FINETUNE_STEPS)
            if policy == "carried":
                template.plugins.append(snaps)
                template.budget.schedule = max(FINETUNE_STEPS)
                template.train_epochs = max(FINETUNE_STEPS)
                template.make_optimizer = lambda **kwargs: None  # keep session 0's Adam state (v1's policy)
                seed_globals(1)
                train(g1, models, own[1:2], protocol, None, template=template)
            else:
                seed_globals(1)
                train(g1, models, own[1:2], protocol, max(FINETUNE_STEPS), plugins=[snaps])
            rows = {}
            for steps, weights in sorted(snaps.weights.items()):
                g1.synthesis.load_state_dict(weights)
                rows[steps] = {f"session{k}": d_eval(g1, models, sessions[k].test.images) for k in (0, 1)}
                print(policy, steps, rows[steps], flush=True)
            gain = {s: before[1] - r["session1"] for s, r in rows.items()}
            result[policy] = {"before": before, "after": rows, "improvement": gain,
                              "ratio_vs_4x": {s: gain[s] / gain[4 * s] for s in gain if 4 * s in gain}}
        save("optimizer", result, started)

    if "scheme" in parts:
        started = time.perf_counter()
        images = sessions[0].test.images
        first, warm, lr = SCHEME["first"], SCHEME["warm"], SCHEME["lr"]
        result = {}
        for name, generator in (("generic", models.generator), ("M_0", naive[0]), ("M_3", naive[3])):
            w, cold = invert_from(generator, models, images, encode(models, images), 4 * first, lr, (first, 4 * first))
            result[name] = {"cold_first": cold[first], "cold_4x": cold[4 * first],
                            "cold_rel_vs_4x": (cold[first] - cold[4 * first]) / cold[4 * first]}
            print("scheme", name, result[name], flush=True)
        w, _ = invert_from(naive[0], models, images, encode(models, images), first, lr)
        for generator in naive[1:]:
            w, _ = invert_from(generator, models, images, w, warm, lr)
        scored = d_of(naive[3], models, images, w)
        result["M_3"].update({"scheme": scored, "scheme_rel_vs_4x": (scored - result["M_3"]["cold_4x"])
                              / result["M_3"]["cold_4x"]})
        print("scheme M_3", result["M_3"], flush=True)
        save("scheme", result, started)

    if "joint" in parts:
        started = time.perf_counter()
        images = torch.cat([s.test.images[:JOINT_IMAGES] for s in sessions])
        before = d_eval(models.generator, models, images)
        snaps = Snapshots(JOINT_STEPS)
        seed_globals(0)
        g = copy.deepcopy(models.generator).requires_grad_(True)
        whole = own[0]
        for more in own[1:]:
            whole = whole.concat(more)
        batch = protocol.batch_new + protocol.batch_replay
        train(g, models, [whole], protocol, max(JOINT_STEPS), plugins=[snaps], batch=batch)
        rows = {}
        for steps, weights in sorted(snaps.weights.items()):
            g.synthesis.load_state_dict(weights)
            rows[steps] = d_eval(g, models, images)
            print("joint", steps, rows[steps], flush=True)
        gain = {s: before - d for s, d in rows.items()}
        save("joint", {"before": before, "after": rows, "improvement": gain,
                       "ratio_vs_4x": {s: gain[s] / gain[4 * s] for s in gain if 4 * s in gain}}, started)


if __name__ == "__main__":
    main()
