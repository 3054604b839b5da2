"""How cheaply can the evaluation's inversion be as converged as protocol v2's? (development card only)

Run from the checkout's root (about 15 minutes on 2 quiet cores):

    .venv/bin/python benchmarks/inversion_schedule_dev.py [--person 0] [--out docs/inversion-schedule-dev.json]

Protocol v2 inverts every test image from the encoder with 400 Adam steps at a constant learning
rate 0.1 (``constant 400``). This measures, on ``faceworld-dev`` (never on a board), for the first
``IMAGES_PER_SESSION`` test images of every session, in two generators (G0, and G0 fine-tuned
naively on sessions 0..2 with protocol v2's steps):

- ``constant S``: Adam at 0.1 for S steps, S in ``CONSTANT_STEPS`` (one run, read after each S);
- ``cosine S``: Adam with the rate 0.1 * (1 + cos(pi s / S)) / 2 at step s = 0..S-1, S in
  ``COSINE_STEPS``;
- ``constant S, stop W/eps``: constant 0.1 with per-image early stopping: an image stops (keeps
  its latent) at the first step s >= W where its loss improved by less than eps * loss(s - W) over
  the last W steps, at most S steps. Simulated exactly from the constant run's per-step latents
  and losses (Adam acts per element and the loss is a sum over images, so an image's path does
  not depend on the others).

For each: d = the mean perceptual distance of the clamped reconstructions per session and over
all, and the cost = image-steps per image. The reference d_ref is the lowest d any setting
reaches (the best estimate of the converged value). The rule, fixed before the numbers were
read: the cheapest setting whose |d - d_ref| is at most constant 400's in both generators, over
all images and in every session's worst case, replaces constant 400 in the next protocol version.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
from pathlib import Path

import torch

from facebench.models.losses import reconstruction_loss
from facebench.seeding import seed_globals

sys.path.insert(0, str(Path(__file__).resolve().parent))
from protocol_dev import dev_person  # noqa: E402
from protocol_v2_dev import train  # noqa: E402

CARD = "faceworld-dev"
IMAGES_PER_SESSION = 4
LR = 0.1
CONSTANT_STEPS = (100, 200, 400, 800)
COSINE_STEPS = (50, 100, 200, 400, 800)
STOPS = ((25, 1e-3), (25, 3e-3), (50, 1e-3), (50, 3e-3))


def adam_path(generator, models, images, steps, schedule):
    """Latents (steps + 1, N, D) and per-image losses (steps + 1, N) of Adam from the encoder's
    start, the rate at step s being ``schedule(s)``; row s is the state after s steps."""
    with torch.no_grad():
        w = models.encoder(images).clone()
    w.requires_grad_(True)
    optimizer = torch.optim.Adam([w], lr=LR)
    latents, losses = [w.detach().clone()], []
    for s in range(steps):
        for group in optimizer.param_groups:
            group["lr"] = schedule(s)
        optimizer.zero_grad(set_to_none=True)
        loss = reconstruction_loss(models.perceptual, generator.synthesis(w), images, 1.0)
        loss.sum().backward()
        optimizer.step()
        losses.append(loss.detach())
        latents.append(w.detach().clone())
    with torch.no_grad():
        losses.append(reconstruction_loss(models.perceptual, generator.synthesis(w), images, 1.0))
    return torch.stack(latents), torch.stack(losses)


def distances(generator, models, images, w, per_session) -> dict:
    """Mean perceptual distance of the clamped reconstructions, over all and per session."""
    with torch.no_grad():
        d = models.perceptual(generator.synthesis(w).clamp(0, 1), images)
    sessions = [float(v.mean()) for v in torch.split(d, per_session)]
    return {"all": float(d.mean()), "sessions": sessions}


def early_stop(latents, losses, window, eps, most):
    """Per image, the step it stops at under the rule of the module docstring, and its latent."""
    n = latents.shape[1]
    stops = torch.full((n,), most, dtype=torch.long)
    for i in range(n):
        for s in range(window, most + 1):
            if losses[s - window, i] - losses[s, i] < eps * losses[s - window, i]:
                stops[i] = s
                break
    return stops, latents[stops, torch.arange(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--person", default="0")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", default="docs/inversion-schedule-dev.json")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    scenario, protocol, models, sessions, own = dev_person(CARD, args.person)
    seed_globals(0)
    naive = copy.deepcopy(models.generator).requires_grad_(True)
    train(naive, models, own[:3], protocol, protocol.steps_per_session)
    naive.requires_grad_(False)
    images = torch.cat([s.test.images[:IMAGES_PER_SESSION] for s in sessions])
    per_session = [IMAGES_PER_SESSION] * len(sessions)
    report = {"card": CARD, "card_sha256": scenario.card.sha256, "person": args.person,
              "threads": args.threads, "images_per_session": IMAGES_PER_SESSION, "lr": LR, "generators": {}}
    for name, generator in (("generic", models.generator), ("naive after sessions 0-2", naive)):
        rows = {}
        latents, losses = adam_path(generator, models, images, max(CONSTANT_STEPS), lambda s: LR)
        for steps in CONSTANT_STEPS:
            rows[f"constant {steps}"] = {"cost": steps, **distances(generator, models, images, latents[steps],
                                                                      per_session)}
        for window, eps in STOPS:
            for most in (400, 800):
                stops, w = early_stop(latents, losses, window, eps, most)
                rows[f"constant {most}, stop {window}/{eps:g}"] = {
                    "cost": float(stops.float().mean()), **distances(generator, models, images, w, per_session)}
        for steps in COSINE_STEPS:
            latents, _ = adam_path(generator, models, images, steps,
                                   lambda s, S=steps: LR * (1 + math.cos(math.pi * s / S)) / 2)
            rows[f"cosine {steps}"] = {"cost": steps, **distances(generator, models, images, latents[-1],
                                                                  per_session)}
        ref = min(rows.values(), key=lambda r: r["all"])
        for row in rows.values():
            row["gap_all"] = row["all"] - ref["all"]
            row["gap_worst_session"] = max(abs(a - b) for a, b in zip(row["sessions"], ref["sessions"]))
        report["generators"][name] = rows
        for key, row in rows.items():
            print(f"{name:26s} {key:28s} cost {row['cost']:7.1f}  d {row['all']:.5f}  gap {row['gap_all']:+.5f}"
                  f"  worst session {row['gap_worst_session']:.5f}", flush=True)
    report["seconds"] = round(time.perf_counter() - started, 1)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
