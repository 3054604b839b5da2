"""Inversion: images -> latents in W of a generator (encoder start, then latent optimisation)."""

from __future__ import annotations

import torch

from .losses import reconstruction_loss


def invert(generator, encoder, images: torch.Tensor, steps: int = 20, lr: float = 0.05,
           perceptual=None, l2_weight: float = 1.0, start: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Invert ``images`` (N, 3, R, R) in [0, 1] into ``generator``'s W space.

    w_0 = ``start`` (N, w_dim) if given, else encoder(x); then ``steps`` Adam steps (learning rate ``lr``) on w only, minimising the sum
    over images of ``reconstruction_loss(perceptual, G.synthesis(w), x, l2_weight)``. The loss is
    summed, so each latent's update is that of inverting its image alone (Adam acts per element);
    the generator's weights are frozen and get no gradients. Deterministic on the CPU.

    Returns (latents (N, w_dim), reconstructions G.synthesis(latents) clamped to [0, 1]), detached.
    ``perceptual`` defaults to the zoo's perceptual network.
    """
    if perceptual is None:
        from .zoo import load
        perceptual = load("perceptual")
    frozen = [p for m in (generator, perceptual) for p in m.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    try:
        if start is None:
            with torch.no_grad():
                start = encoder(images)
        w = start.detach().clone().requires_grad_(True)
        opt = torch.optim.Adam([w], lr=lr)
        for _ in range(steps):
            opt.zero_grad(set_to_none=True)
            reconstruction_loss(perceptual, generator.synthesis(w), images, l2_weight).sum().backward()
            opt.step()
        with torch.no_grad():
            return w.detach(), generator.synthesis(w).clamp(0, 1)
    finally:
        for p in frozen:
            p.requires_grad_(True)

