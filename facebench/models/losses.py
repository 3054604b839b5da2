"""The reconstruction loss shared by pretraining, inversion and fine-tuning (the MyStyle recipe)."""

from __future__ import annotations

import torch


def reconstruction_loss(perceptual, output: torch.Tensor, target: torch.Tensor, l2_weight: float = 1.0) -> torch.Tensor:
    """Per-image loss, shape (N,): perceptual(output, target) + l2_weight * mean_{c,h,w} (output - target)^2.

    The L2 term is the mean squared error over channels and pixels of images in [0, 1]; the perceptual
    term is ``PerceptualDistance`` (dimensionless). Lower is better.
    """
    return perceptual(output, target) + l2_weight * (output - target).square().mean(dim=(1, 2, 3))
