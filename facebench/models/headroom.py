"""The headroom check: is there something to personalise, and something to forget?

On one FaceWorld person, with the generic zoo models (G0, E, perceptual P):

1. anchors of session s = ``invert(G0, E, train images of s)`` (frames 0 .. n_train-1);
2. d(G) = mean over session 0's test images (frames n_train .. n_train+n_test-1) of
   P(reconstruction, image), the reconstruction being the inversion into G (``eval_steps`` steps);
3. G1 = G0 fine-tuned on session 0's anchors (the MyStyle recipe: all generator weights, Adam lr 3e-4,
   loss perceptual + 1.0 * L2, mini-batches of 2, ``steps`` steps, a fresh optimiser per session);
   G_T = G1 then fine-tuned naively on sessions 1 .. T-1 in turn, ``steps`` steps each;
4. gain = (d(G0) - d(G1)) / d(G0)      -- must be >= 0.25 (personalisation helps);
   lost = (d(G_T) - d(G1)) / (d(G0) - d(G1))   -- must be >= 1/3 (naive fine-tuning forgets).
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from .inversion import invert
from .losses import reconstruction_loss
from .zoo import load

MIN_GAIN, MIN_LOST = 0.25, 1 / 3


def finetune(generator, latents: torch.Tensor, images: torch.Tensor, steps: int, perceptual,
             rng: np.random.Generator, lr: float = 3e-4, batch: int = 2, l2_weight: float = 1.0) -> None:
    """Fine-tune all of ``generator.synthesis``'s weights in place on (latent, image) pairs (the MyStyle
    recipe): ``steps`` Adam steps on random mini-batches of ``batch`` pairs, mean reconstruction loss."""
    opt = torch.optim.Adam(generator.synthesis.parameters(), lr=lr)
    for _ in range(steps):
        i = torch.from_numpy(rng.choice(len(latents), batch, replace=False))
        loss = reconstruction_loss(perceptual, generator.synthesis(latents[i]), images[i], l2_weight).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()


def headroom(world, person: int = 0, sessions: int = 10, n_train: int = 20, n_test: int = 20, steps: int = 100,
             anchor_steps: int = 60, eval_steps: int = 20, resolution: int = 64, seed: int = 0, zoo=None) -> dict:
    """Run the check (module docstring) on ``world`` (a ``FaceWorld``); returns its figures and verdict."""
    generator, encoder, perceptual = (load(n, resolution, zoo) for n in ("generator", "encoder", "perceptual"))
    for p in perceptual.parameters():
        p.requires_grad_(False)
    rng = np.random.default_rng(seed)
    test, _ = world.render(person, 0, range(n_train, n_train + n_test), resolution)

    def distance(g) -> float:
        _, recon = invert(g, encoder, test, steps=eval_steps, perceptual=perceptual)
        with torch.no_grad():
            return float(perceptual(recon, test).mean())

    d0 = distance(generator)
    tuned = copy.deepcopy(generator).train()
    for s in range(sessions):
        train, _ = world.render(person, s, range(n_train), resolution)
        anchors, _ = invert(generator, encoder, train, steps=anchor_steps, perceptual=perceptual)
        finetune(tuned, anchors, train, steps, perceptual, rng)
        if s == 0:
            d1 = distance(tuned)
    d_final = distance(tuned)
    gain = (d0 - d1) / d0
    lost = (d_final - d1) / (d0 - d1) if d0 > d1 else float("nan")
    return {"person": person, "sessions": sessions, "steps_per_session": steps, "anchor_steps": anchor_steps,
            "eval_steps": eval_steps, "d_generic": d0, "d_after_session0": d1, "d_after_all": d_final,
            "gain": gain, "lost_fraction": lost, "passes": bool(gain >= MIN_GAIN and lost >= MIN_LOST)}


def headroom_on_card(card: str = "faceworld", person: int = 0, **settings) -> dict:
    """``headroom`` on a FaceWorld scenario card's person (its world seed, sessions, image counts, size)."""
    from facebench.data.cards import load_card
    from facebench.data.faceworld import FaceWorld

    data = load_card(card).data
    source = data["source"]
    result = headroom(FaceWorld(source["world_seed"]), person, sessions=source["sessions"],
                      n_train=source["train_per_session"], n_test=source["test_per_session"],
                      resolution=data["resolution"], **settings)
    return {"card": card, **result}
