"""The style-based generator (StyleGAN2 family): mapping network z -> w and synthesis network w -> image.

Definitions
-----------
- W space: ``w_dim``-dimensional (default 128). One w drives every layer of the synthesis network
  (no W+); a personalised latent is a point of W.
- Modulated, demodulated 3x3 convolution, in the non-fused form (several times faster on the CPU than
  the grouped-convolution form, and mathematically identical):
      s[b, i]    = A(w_b)[i]                                        (per-layer affine style, bias 1)
      y[b, o]    = conv2d(x[b] * s[b, :], W)[o]                     (one convolution shared by the batch)
      d[b, o]    = rsqrt( sum_{i,k} (W[o, i, k] * s[b, i])^2 + 1e-8 ) (demodulation)
      out[b, o]  = lrelu_0.2( y[b, o] * d[b, o] + bias[o] ) * sqrt(2)
- Upsampling: bilinear, x2, before the first convolution of every block above 4x4.
- toRGB skips: every resolution adds a modulated (not demodulated) 1x1 convolution to the running
  RGB image, which is bilinearly upsampled between resolutions.
- Output: ``0.5 + rgb``, an image in [0, 1] up to the (unclamped) training error. No stochastic
  noise inputs: G(w) is a deterministic function.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: Default channel count per resolution; resolutions above the largest key reuse the last value.
DEFAULT_CHANNELS = {4: 128, 8: 64, 16: 32, 32: 16, 64: 8}


def channels_for(resolution: int, channels: dict[int, int] | None = None) -> dict[int, int]:
    """Channel count at every resolution 4, 8, ..., ``resolution`` (a power of two >= 8)."""
    if resolution < 8 or resolution & (resolution - 1):
        raise ValueError(f"resolution must be a power of two >= 8, got {resolution}")
    table = {int(k): int(v) for k, v in (channels or DEFAULT_CHANNELS).items()}
    out, last = {}, None
    res = 4
    while res <= resolution:
        last = table.get(res, last)
        out[res] = last
        res *= 2
    return out


class MappingNetwork(nn.Module):
    """z -> w: pixel-normalised z through ``layers`` fully connected layers with leaky ReLU (0.2)."""

    def __init__(self, z_dim: int = 128, w_dim: int = 128, layers: int = 4):
        super().__init__()
        dims = [z_dim] + [w_dim] * layers
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(dims[:-1], dims[1:]))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.leaky_relu(x, 0.2)
        return x


class ModulatedConv(nn.Module):
    """Modulated convolution (non-fused form, see the module docstring); optional x2 bilinear upsampling."""

    def __init__(self, w_dim: int, in_ch: int, out_ch: int, kernel: int = 3,
                 demodulate: bool = True, upsample: bool = False, activate: bool = True):
        super().__init__()
        self.affine = nn.Linear(w_dim, in_ch)
        nn.init.ones_(self.affine.bias)
        self.weight = nn.Parameter(torch.randn(out_ch, in_ch, kernel, kernel) / math.sqrt(in_ch * kernel * kernel))
        self.bias = nn.Parameter(torch.zeros(out_ch))
        self.demodulate, self.upsample, self.activate = demodulate, upsample, activate

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        s = self.affine(w)                                               # (B, I)
        x = x * s[:, :, None, None]
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
        weight = self.weight  # read once: a parametrised weight (strategies/lora.py) is computed on each read
        x = F.conv2d(x, weight, padding=weight.shape[-1] // 2)
        if self.demodulate:
            w2 = weight.square().sum(dim=(2, 3))                         # (O, I)
            d = torch.rsqrt(s.square() @ w2.t() + 1e-8)                  # (B, O)
            x = x * d[:, :, None, None]
        x = x + self.bias[None, :, None, None]
        if self.activate:
            x = F.leaky_relu(x, 0.2) * math.sqrt(2.0)
        return x


class SynthesisNetwork(nn.Module):
    """w -> image: a learned 4x4 constant, two modulated convolutions per resolution, toRGB skips."""

    def __init__(self, resolution: int = 64, w_dim: int = 128, channels: dict[int, int] | None = None):
        super().__init__()
        self.resolution, self.w_dim = resolution, w_dim
        ch = channels_for(resolution, channels)
        self.const = nn.Parameter(torch.randn(1, ch[4], 4, 4))
        self.convs = nn.ModuleList()
        self.to_rgb = nn.ModuleList()
        prev = ch[4]
        for res, c in ch.items():
            block = nn.ModuleList()
            if res > 4:
                block.append(ModulatedConv(w_dim, prev, c, upsample=True))
            block.append(ModulatedConv(w_dim, c if res > 4 else prev, c))
            self.convs.append(block)
            self.to_rgb.append(ModulatedConv(w_dim, c, 3, kernel=1, demodulate=False, activate=False))
            prev = c

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        x = self.const.expand(w.shape[0], -1, -1, -1)
        rgb = None
        for block, to_rgb in zip(self.convs, self.to_rgb):
            for conv in block:
                x = conv(x, w)
            if rgb is not None:
                rgb = F.interpolate(rgb, scale_factor=2, mode="bilinear", align_corners=False)
            rgb = to_rgb(x, w) if rgb is None else rgb + to_rgb(x, w)
        return rgb + 0.5


class Generator(nn.Module):
    """The generic face generator: ``synthesis(w)`` renders a latent, ``forward(z)`` samples z -> w -> image.

    Images are float32 (N, 3, R, R), nominally in [0, 1] (not clamped); latents are (N, w_dim).
    """

    def __init__(self, resolution: int = 64, z_dim: int = 128, w_dim: int = 128,
                 mapping_layers: int = 4, channels: dict[int, int] | None = None):
        super().__init__()
        self.config = {"resolution": resolution, "z_dim": z_dim, "w_dim": w_dim,
                       "mapping_layers": mapping_layers,
                       "channels": {str(k): v for k, v in channels_for(resolution, channels).items()}}
        self.resolution, self.z_dim, self.w_dim = resolution, z_dim, w_dim
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers)
        self.synthesis = SynthesisNetwork(resolution, w_dim, channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.synthesis(self.mapping(z))
