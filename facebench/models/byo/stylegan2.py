"""A StyleGAN2 generator in the layout of rosinality's PyTorch port (``stylegan2-pytorch``,
``model.py``), written anew: the checkpoint's ``g_ema`` state dict loads into it key for key.

Definitions (rosinality's names; R = 2**L the native resolution, D the style dimension):

- EqualLinear: ``y = x (W * lr_mul / sqrt(in))^T + b * lr_mul``, then, in the mapping network,
  the fused leaky ReLU ``lrelu_0.2(y) * sqrt(2)``. Weights are stored unscaled (equalised
  learning rate).
- Mapping network ``style``: PixelNorm ``z / sqrt(mean(z^2) + 1e-8)`` then ``n_mlp`` EqualLinear
  D -> D with ``lr_mul`` 0.01 (rosinality's ``lr_mlp``; the weights cannot tell it) and the fused
  leaky ReLU; keys ``style.1`` .. ``style.<n_mlp>``.
- Modulated convolution (``ModulatedConv2d``, weight (1, O, I, k, k), scaled by 1/sqrt(I k^2)):
  the style ``s = modulation(w)`` (EqualLinear, bias initialised to 1) scales the input channels;
  demodulation divides output channel o by ``sqrt(sum_{i,k} (W[o,i,k] s[i])^2 + 1e-8)``. Computed
  in the non-fused form (one convolution shared by the batch, the style applied to the
  activations), which equals rosinality's fused grouped convolution. Upsampling: a stride-2
  transposed convolution, then the blur ``upfirdn2d`` with the [1, 3, 3, 1] kernel (outer
  product, normalised, times 4) padded (1, 1).
- StyledConv: modulated 3x3 convolution, noise injection ``x + weight * noise`` with the
  checkpoint's fixed noise buffers ``noises.noise_<i>`` (rosinality's ``randomize_noise=False``,
  so G(w) is a function of w), then the fused leaky ReLU with its bias (``activate.bias``).
- ToRGB: modulated 1x1 convolution without demodulation, plus a bias (1, 3, 1, 1), plus the
  previous RGB upsampled x2 by ``upfirdn2d`` (kernel [1, 3, 3, 1] times 4, padding (2, 1)).
- Synthesis: the learned constant ``input.input`` (1, C_4, 4, 4); ``conv1`` and ``to_rgb1`` at
  4 px; per resolution 8 .. R, ``convs.2j`` (upsampling), ``convs.2j+1`` and ``to_rgbs.j``.
  One w (N, D) drives every layer (W space, as MyStyle fine-tunes; rosinality's single style
  broadcast to its ``n_latent`` layers).
- Output: rosinality's image, in [-1, 1] nominally, mapped to [0, 1] as ``(x + 1) / 2`` (not
  clamped), then averaged over area down to the card's resolution when R is larger (adaptive
  average pooling: a box filter when the card's resolution divides R).

What is read from the checkpoint's shapes, so that any resolution and width loads: R from the
number of ``to_rgbs.<j>``, D and ``n_mlp`` from ``style.<i>.weight``, the channels C_r of every
resolution from ``input.input`` and ``convs.<2j>.conv.weight`` (rosinality's table is 512 up
to 32 px, then 256, 128, 64, 32, 16 times ``channel_multiplier`` from 64 px to 1024 px; a
narrower table loads too). Every other tensor must then have the shape that table gives.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .files import ModelFileError, load_checked, read_checkpoint, state_dict, tensor

LR_MUL = 0.01
"""The mapping network's learning-rate multiplier (rosinality's default ``lr_mlp``)."""
SLOPE, GAIN = 0.2, math.sqrt(2)
"""The fused leaky ReLU: negative slope and output gain."""
LAYOUT = "a StyleGAN2 generator in rosinality's layout"


def upfirdn2d(x: torch.Tensor, kernel: torch.Tensor, up: int, pad: tuple[int, int]) -> torch.Tensor:
    """Upsample by zero insertion (``up``), pad every side (``pad``: before, after), and
    convolve every channel with ``kernel`` (k, k): rosinality's ``upfirdn2d`` without
    downsampling. x (N, C, H, W) -> (N, C, H * up + sum(pad) - k + 1, ...)."""
    n, c, h, w = x.shape
    if up > 1:
        x = F.pad(x.reshape(n, c, h, 1, w, 1), [0, up - 1, 0, 0, 0, up - 1]).reshape(n, c, h * up, w * up)
    x = F.pad(x, [pad[0], pad[1], pad[0], pad[1]])
    weight = kernel.flip([0, 1]).to(x.dtype).expand(c, 1, *kernel.shape)
    return F.conv2d(x, weight, groups=c)


def fused_lrelu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    """``lrelu_0.2(x + bias) * sqrt(2)``, bias per channel (dimension 1)."""
    return F.leaky_relu(x + bias.view(1, -1, *[1] * (x.ndim - 2)), SLOPE) * GAIN


class EqualLinear(nn.Module):
    """Equalised linear layer (module doc); ``activate``: the fused leaky ReLU after it."""

    def __init__(self, in_dim: int, out_dim: int, lr_mul: float = 1.0, activate: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim) / lr_mul)
        self.bias = nn.Parameter(torch.zeros(out_dim))
        self.scale, self.lr_mul, self.activate = lr_mul / math.sqrt(in_dim), lr_mul, activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.activate:
            return fused_lrelu(F.linear(x, self.weight * self.scale), self.bias * self.lr_mul)
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


class PixelNorm(nn.Module):
    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return z * torch.rsqrt(z.square().mean(dim=1, keepdim=True) + 1e-8)


class Mapping(nn.Module):
    """z (N, D) -> w (N, D): ``style`` = PixelNorm and ``n_mlp`` EqualLinear layers."""

    def __init__(self, style_dim: int, n_mlp: int):
        super().__init__()
        self.style = nn.Sequential(PixelNorm(), *[EqualLinear(style_dim, style_dim, LR_MUL, activate=True)
                                                  for _ in range(n_mlp)])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.style(z)


class Blur(nn.Module):
    """``upfirdn2d`` with the buffer ``kernel`` (4, 4), upsampling by ``up``, padding ``pad``."""

    def __init__(self, up: int, pad: tuple[int, int]):
        super().__init__()
        taps = torch.tensor([1.0, 3.0, 3.0, 1.0])
        self.register_buffer("kernel", torch.outer(taps, taps) / taps.sum() ** 2 * 4)
        self.up, self.pad = up, pad

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, self.up, self.pad)


class ModulatedConv2d(nn.Module):
    """Modulated convolution (module doc), non-fused; ``upsample``: x2 first."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, style_dim: int, demodulate: bool = True,
                 upsample: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(1, out_ch, in_ch, kernel, kernel))
        self.modulation = EqualLinear(style_dim, in_ch)
        nn.init.ones_(self.modulation.bias)
        if upsample:
            self.blur = Blur(1, (1, 1))
        self.scale, self.demodulate, self.upsample = 1 / math.sqrt(in_ch * kernel**2), demodulate, upsample

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        style = self.modulation(w)                                           # (N, I)
        weight = self.weight[0] * self.scale                                 # (O, I, k, k); read once
        x = x * style[:, :, None, None]
        if self.upsample:
            x = self.blur(F.conv_transpose2d(x, weight.transpose(0, 1), stride=2))
        else:
            x = F.conv2d(x, weight, padding=weight.shape[-1] // 2)
        if self.demodulate:
            x = x * torch.rsqrt(style.square() @ weight.square().sum(dim=(2, 3)).t() + 1e-8)[:, :, None, None]
        return x


class NoiseInjection(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return x + self.weight * noise


class FusedLeakyReLU(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fused_lrelu(x, self.bias)


class StyledConv(nn.Module):
    """Modulated 3x3 convolution, fixed-noise injection, fused leaky ReLU."""

    def __init__(self, in_ch: int, out_ch: int, style_dim: int, upsample: bool = False):
        super().__init__()
        self.conv = ModulatedConv2d(in_ch, out_ch, 3, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_ch)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, w), noise))


class ToRGB(nn.Module):
    """Modulated 1x1 convolution to RGB plus bias, plus the upsampled previous RGB (``skip``)."""

    def __init__(self, in_ch: int, style_dim: int, upsample: bool = True):
        super().__init__()
        if upsample:
            self.upsample = Blur(2, (2, 1))
        self.conv = ModulatedConv2d(in_ch, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, w: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        rgb = self.conv(x, w) + self.bias
        return rgb if skip is None else rgb + self.upsample(skip)


class Synthesis(nn.Module):
    """w (N, D) -> images (N, 3, resolution, resolution) in [0, 1] (module doc)."""

    def __init__(self, channels: dict[int, int], style_dim: int, resolution: int):
        super().__init__()
        sizes = sorted(channels)
        self.input = nn.Module()
        self.input.input = nn.Parameter(torch.randn(1, channels[4], 4, 4))
        self.conv1 = StyledConv(channels[4], channels[4], style_dim)
        self.to_rgb1 = ToRGB(channels[4], style_dim, upsample=False)
        self.convs, self.to_rgbs, self.noises = nn.ModuleList(), nn.ModuleList(), nn.Module()
        for before, size in zip(sizes, sizes[1:]):
            self.convs.append(StyledConv(channels[before], channels[size], style_dim, upsample=True))
            self.convs.append(StyledConv(channels[size], channels[size], style_dim))
            self.to_rgbs.append(ToRGB(channels[size], style_dim))
        for i in range(len(self.convs) + 1):
            side = 2 ** ((i + 5) // 2)
            self.noises.register_buffer(f"noise_{i}", torch.randn(1, 1, side, side))
        self.native_resolution, self.resolution = sizes[-1], resolution

    def forward(self, w: torch.Tensor) -> torch.Tensor:
        noise = [getattr(self.noises, f"noise_{i}") for i in range(len(self.convs) + 1)]
        x = self.conv1(self.input.input.expand(len(w), -1, -1, -1), w, noise[0])
        rgb = self.to_rgb1(x, w)
        for j, to_rgb in enumerate(self.to_rgbs):
            x = self.convs[2 * j](x, w, noise[2 * j + 1])
            x = self.convs[2 * j + 1](x, w, noise[2 * j + 2])
            rgb = to_rgb(x, w, rgb)
        image = (rgb + 1) / 2
        if self.resolution != self.native_resolution:
            image = F.adaptive_avg_pool2d(image, self.resolution)
        return image


class StyleGAN2(nn.Module):
    """The generator: ``mapping(z)`` z -> w, ``synthesis(w)`` w -> image, ``forward(z)`` both.

    Latents are (N, ``w_dim``); images float32 (N, 3, ``resolution``, ``resolution``) in [0, 1]
    (not clamped); ``latent_avg`` (``w_dim``,) the mean of W (the checkpoint's, else the mean of
    ``mapping`` over :data:`MEAN_SAMPLES` seeded z); ``config``: what was read from the file.
    """

    def __init__(self, channels: dict[int, int], style_dim: int, n_mlp: int, resolution: int):
        super().__init__()
        self.mapping = Mapping(style_dim, n_mlp)
        self.synthesis = Synthesis(channels, style_dim, resolution)
        self.register_buffer("latent_avg", torch.zeros(style_dim), persistent=False)
        self.z_dim = self.w_dim = style_dim
        self.resolution = resolution
        self.config = {"native_resolution": max(channels), "style_dim": style_dim, "n_mlp": n_mlp,
                       "channels": {str(size): width for size, width in channels.items()}, "resolution": resolution}

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.synthesis(self.mapping(z))


MEAN_SAMPLES = 10_000
"""z samples (seed 0) whose mapped mean is ``latent_avg`` when the checkpoint has none
(rosinality's projector uses as many)."""


def load_stylegan2(path: Path, resolution: int) -> StyleGAN2:
    """The generator of the checkpoint at ``path`` (``{"g_ema": state dict, "latent_avg":
    optional}``), its images brought to ``resolution`` px; ``ModelFileError`` (one line, the
    file and the mismatch) if it is not a StyleGAN2 in rosinality's layout of at least that
    resolution."""
    saved = read_checkpoint(path)
    state = state_dict(path, saved, "g_ema", LAYOUT)
    channels, style_dim, n_mlp = _architecture(path, state)
    native = max(channels)
    if native < resolution:
        raise ModelFileError(f"{path}: a {native} px generator, but the card's resolution is {resolution} px: "
                             "use a generator of at least the card's resolution, or a lower resolution")
    what = (f"a {native} px StyleGAN2 of style dimension {style_dim}, {n_mlp} mapping layers and channels "
            f"{'/'.join(map(str, channels.values()))} from 4 px up (read from input.input, convs.<2j> and style.1)")
    generator = StyleGAN2(channels, style_dim, n_mlp, resolution)
    load_checked(generator.mapping, path, {k: v for k, v in state.items() if k.startswith("style.")}, "g_ema.", what)
    load_checked(generator.synthesis, path, {k: v for k, v in state.items() if not k.startswith("style.")}, "g_ema.",
                 what)
    generator.latent_avg.copy_(_latent_avg(path, saved, generator))
    return generator


def _architecture(path: Path, state: dict) -> tuple[dict[int, int], int, int]:
    """(channels per resolution 4 .. R, style dimension, mapping layers) read from ``state``."""
    read = lambda key, ndim: tensor(path, state, key, ndim, "g_ema.", LAYOUT)  # noqa: E731
    style_dim = read("style.1.weight", 2).shape[1]
    n_mlp = sum(1 for key in state if key.startswith("style.") and key.endswith(".weight"))
    levels = sum(1 for key in state if key.startswith("to_rgbs.") and key.endswith(".conv.weight"))
    channels = {4: read("input.input", 4).shape[1]}
    for j in range(levels):
        channels[2 ** (j + 3)] = read(f"convs.{2 * j}.conv.weight", 5).shape[1]
    if levels == 0:
        raise ModelFileError(f"{path}: g_ema has no to_rgbs.<j> keys: not {LAYOUT} above 4 px")
    return channels, style_dim, n_mlp


def _latent_avg(path: Path, saved: dict, generator: StyleGAN2) -> torch.Tensor:
    """The checkpoint's ``latent_avg`` (its first row where it holds one per layer), else the
    mean of the mapping network over :data:`MEAN_SAMPLES` z of seed 0."""
    if "latent_avg" in saved:
        return first_row(path, saved["latent_avg"], generator.w_dim, "latent_avg")
    with torch.no_grad():
        z = torch.randn(MEAN_SAMPLES, generator.z_dim, generator=torch.Generator().manual_seed(0))
        return generator.mapping(z).mean(0)


def first_row(path: Path, latent: object, w_dim: int, key: str) -> torch.Tensor:
    """A mean latent saved as (D,), (1, D) or one row per layer (n, D): its first row, (D,)."""
    if not isinstance(latent, torch.Tensor) or latent.ndim not in (1, 2) or latent.shape[-1] != w_dim:
        shape = tuple(latent.shape) if isinstance(latent, torch.Tensor) else type(latent).__name__
        raise ModelFileError(f"{path}: {key} is {shape}, not ({w_dim},) or (layers, {w_dim}) as the generator's W")
    return latent.reshape(-1, w_dim)[0].float()
