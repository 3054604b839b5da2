"""The ``mean-latent`` encoder: every inversion starts at the generator's mean latent.

E(x) = latent_avg for every image: (N, 3, H, W) -> (N, D). ``latent_avg`` is the user's
generator's (:class:`facebench.models.byo.stylegan2.StyleGAN2`); the latent optimisation of
the protocol (``facebench.models.invert``) then does all the work, as StyleGAN2's own projector
starts from the mean latent.
"""

from __future__ import annotations

import torch
from torch import nn


class MeanLatentEncoder(nn.Module):
    """images (N, ...) -> (N, D), every row the mean latent ``latent_avg`` (D,)."""

    def __init__(self, latent_avg: torch.Tensor):
        super().__init__()
        self.register_buffer("latent_avg", latent_avg.detach().clone(), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.latent_avg.expand(len(images), -1)
