"""The facebench perceptual distance (the LPIPS role, trained on FaceWorld; it is not LPIPS).

A small CNN (four stride-2 stages) trained to regress all of an image's FaceWorld factors. The
distance between two images x and y of the same size compares its four stage activations f_l:

    d(x, y) = sum_l mean_{h,w} || f_l(x)[:, h, w] / |f_l(x)[:, h, w]| - f_l(y)[:, h, w] / |f_l(y)[:, h, w]| ||^2

i.e. per layer the features are unit-normalised along channels (eps 1e-10), the squared difference is
summed over channels (in [0, 4]) and averaged over positions, and the layers are summed. One value per
image pair, dimensionless, in [0, 16]; 0 for identical images; lower is more similar.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _unit(f: torch.Tensor) -> torch.Tensor:
    return f / torch.sqrt(f.square().sum(dim=1, keepdim=True) + 1e-10)


class PerceptualDistance(nn.Module):
    """``forward(x, y)`` -> (N,) perceptual distance (module docstring); ``features(x)``; ``predict(x)`` factors.

    Images: float32 (N, 3, H, W) in [0, 1], H and W divisible by 16.
    """

    def __init__(self, n_outputs: int, channels: tuple[int, ...] = (16, 32, 64, 64)):
        super().__init__()
        self.config = {"n_outputs": n_outputs, "channels": list(channels)}
        dims = (3,) + tuple(channels)
        self.stages = nn.ModuleList(
            nn.Sequential(nn.Conv2d(a, b, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
                          nn.Conv2d(b, b, 3, padding=1), nn.LeakyReLU(0.2))
            for a, b in zip(dims[:-1], dims[1:]))
        self.head = nn.Linear(channels[-1], n_outputs)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        h, out = x * 2 - 1, []
        for stage in self.stages:
            h = stage(h)
            out.append(h)
        return out

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The factor head: (N, n_outputs) standardised continuous factors then categorical logits."""
        return self.head(self.features(x)[-1].mean(dim=(2, 3)))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape:
            raise ValueError(f"perceptual distance needs equal shapes, got {tuple(x.shape)} and {tuple(y.shape)}")
        fx = self.features(x)
        with torch.set_grad_enabled(torch.is_grad_enabled() and y.requires_grad):
            fy = self.features(y)
        return sum((_unit(a) - _unit(b)).square().sum(dim=1).mean(dim=(1, 2)) for a, b in zip(fx, fy))


#: Distortion strengths of ``distortion_curves``: blur sigma (px), noise std, shift (px).
STRENGTHS = {"blur": (0.5, 1.0, 1.5, 2.0, 3.0), "noise": (0.01, 0.02, 0.05, 0.1, 0.2), "shift": (1, 2, 3, 4, 6)}


def distort(images: torch.Tensor, kind: str, strength: float, seed: int = 0) -> torch.Tensor:
    """Distorted copies of ``images`` in [0, 1]: Gaussian ``blur`` (sigma px, reflect padding), additive
    Gaussian ``noise`` (std, seeded, clamped to [0, 1]), or ``shift`` right and down by ``strength`` px
    (edge pixels replicated)."""
    if kind == "blur":
        r = int(math.ceil(3 * strength))
        k = torch.exp(-torch.arange(-r, r + 1, dtype=images.dtype).square() / (2 * strength**2))
        k = (k / k.sum()).repeat(3, 1)
        x = F.pad(images, (r, r, r, r), mode="reflect")
        x = F.conv2d(x, k[:, None, None, :], groups=3)
        return F.conv2d(x, k[:, None, :, None], groups=3)
    if kind == "noise":
        g = torch.Generator().manual_seed(seed)
        return (images + strength * torch.randn(images.shape, generator=g)).clamp(0, 1)
    if kind == "shift":
        s = int(strength)
        return F.pad(images, (s, 0, s, 0), mode="replicate")[..., : images.shape[-2], : images.shape[-1]]
    raise ValueError(f"unknown distortion {kind!r}")


def distortion_curves(net: PerceptualDistance, images: torch.Tensor) -> dict[str, dict[str, list[float]]]:
    """Mean perceptual distance between ``images`` and their distortions, per kind and strength."""
    with torch.no_grad():
        return {kind: {"strength": list(values),
                       "distance": [float(net(distort(images, kind, s), images).mean()) for s in values]}
                for kind, values in STRENGTHS.items()}
