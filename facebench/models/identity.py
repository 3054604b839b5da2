"""The identity network (the ArcFace role): a face image -> a unit-length identity embedding.

A CNN (stride-2 stages with batch norm) and a linear layer to a 128-d embedding, L2-normalised, so
identity similarity = cosine similarity = dot product of embeddings, in [-1, 1], higher = more alike.
Trained with a batch-level CosFace margin loss on FaceWorld population identities (pairs of images of
one identity from two random sessions), so hair, make-up, glasses, light and pose do not move the
embedding. Evaluation only: it is never part of a training loss of the benchmark.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class IdentityNet(nn.Module):
    """images (N, 3, H, W) in [0, 1], any size (resized to ``resolution``) -> (N, dim) unit embeddings."""

    def __init__(self, resolution: int = 64, dim: int = 128, channels: tuple[int, ...] = (24, 48, 96, 128)):
        super().__init__()
        self.config = {"resolution": resolution, "dim": dim, "channels": list(channels)}
        self.resolution = resolution
        layers, prev = [], 3
        for c in channels:
            layers += [nn.Conv2d(prev, c, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(c), nn.LeakyReLU(0.2),
                       nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.LeakyReLU(0.2)]
            prev = c
        self.body = nn.Sequential(*layers)
        side = resolution // 2 ** len(channels)
        self.embed = nn.Sequential(nn.Flatten(), nn.Linear(prev * side * side, dim), nn.BatchNorm1d(dim))

    def trunk(self, images: torch.Tensor) -> torch.Tensor:
        """The convolutional features (N, C, r, r) that the embedding is computed from."""
        if images.shape[-2:] != (self.resolution, self.resolution):
            images = F.interpolate(images, size=(self.resolution, self.resolution), mode="bilinear",
                                   antialias=True, align_corners=False)
        return self.body(images * 2 - 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.embed(self.trunk(images)), dim=1)


def pair_cosface_loss(a: torch.Tensor, b: torch.Tensor, scale: float = 20.0, margin: float = 0.2) -> torch.Tensor:
    """Batch-level CosFace: unit embeddings a[i], b[i] of the same identity (P, dim), all other rows other
    identities. Cross-entropy of logits s * (cos(a_i, b_j) - m * [i == j]) over j, and over i, averaged."""
    logits = scale * (a @ b.t() - margin * torch.eye(len(a), dtype=a.dtype, device=a.device))
    target = torch.arange(len(a), device=a.device)
    return (F.cross_entropy(logits, target) + F.cross_entropy(logits.t(), target)) / 2
