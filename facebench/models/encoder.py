"""The encoder (the e4e role): an image -> its latent in the generator's W space.

A strided CNN: one stride-2 3x3 convolution (+ leaky ReLU 0.2) per halving from the input resolution
down to 4x4, then a linear layer from the flattened 4x4 features to w. It only starts inversions
(`facebench.models.invert`), which then optimise w against the generator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .generator import channels_for


class Encoder(nn.Module):
    """x (N, 3, R, R) in [0, 1] -> w (N, w_dim)."""

    def __init__(self, resolution: int = 64, w_dim: int = 128, channels: dict[int, int] | None = None):
        super().__init__()
        ch = channels_for(resolution, channels or {4: 256, 8: 128, 16: 64, 32: 32, 64: 32})
        self.config = {"resolution": resolution, "w_dim": w_dim, "channels": {str(k): v for k, v in ch.items()}}
        self.resolution = resolution
        self.stem = nn.Conv2d(3, ch[resolution], 3, padding=1)
        self.down = nn.ModuleList()
        res = resolution
        while res > 4:
            self.down.append(nn.Conv2d(ch[res], ch[res // 2], 3, stride=2, padding=1))
            res //= 2
        self.head = nn.Linear(ch[4] * 16, w_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.resolution:
            raise ValueError(f"encoder expects {self.resolution}px images, got {tuple(x.shape)}")
        h = F.leaky_relu(self.stem(x * 2 - 1), 0.2)
        for conv in self.down:
            h = F.leaky_relu(conv(h), 0.2)
        return self.head(h.flatten(1))
