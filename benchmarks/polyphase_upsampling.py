"""The upsampling convolutions in polyphase form against today's, timed side by side (docs/speed.md).

Run from the checkout's root on a quiet machine:

    .venv/bin/python benchmarks/polyphase_upsampling.py [--threads 1] [--repeats 3]

Today's layer: bilinear x2 upsampling (align_corners False: clamped at the border), then a 3x3
convolution with zero padding. The polyphase form (``polyphase``): one 3x3 convolution of the
replicate-padded low-resolution map with the effective kernels E_ab = M_a W M_b^T (4x the output
channels), a pixel shuffle, and the border term subtracted from the output's outer ring (the
replicate padding puts the upsampled map's edge values where the convolution pads zeros).

Prints: the largest difference of the two forms in float64 and float32; per upsampling layer of
the zoo generator, forward and backward of 200 images (ms); and a whole inversion step of 200
images into the zoo generator with the 64 px layer in either form (ms), with the largest
difference of the latents after 4 steps. The idea was measured and not kept (docs/speed.md).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from facebench.data.faceworld import Population
from facebench.models import load
from facebench.models.generator import ModulatedConv
from facebench.models.inversion import invert

#: M[a][j, k]: the weight of kernel tap k on low-resolution offset j - 1, for output phase a.
M = torch.tensor([[[0.75, 0.25, 0.0], [0.25, 0.75, 0.75], [0.0, 0.0, 0.25]],
                  [[0.25, 0.0, 0.0], [0.75, 0.75, 0.25], [0.0, 0.25, 0.75]]], dtype=torch.float64)


def today(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    upsampled = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    return F.conv2d(upsampled, weight, padding=1)


def polyphase(x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    out_ch, in_ch = weight.shape[:2]
    m = M.to(weight.dtype)
    kernels = torch.einsum("ajk,oikl,bml->oabijm", m, weight, m).reshape(out_ch * 4, in_ch, 3, 3)
    y = F.pixel_shuffle(F.conv2d(F.pad(x, (1, 1, 1, 1), mode="replicate"), kernels), 2).clone()
    up = lambda edge: F.interpolate(edge, scale_factor=2, mode="linear", align_corners=False)  # noqa: E731
    row = lambda r: torch.cat([r[..., :1], r, r[..., -1:]], -1)  # noqa: E731  corners belong to the rows
    y[:, :, 0, :] -= F.conv1d(row(up(x[:, :, 0, :])), weight[:, :, 0, :])
    y[:, :, -1, :] -= F.conv1d(row(up(x[:, :, -1, :])), weight[:, :, 2, :])
    y[:, :, :, 0] -= F.conv1d(F.pad(up(x[:, :, :, 0]), (1, 1)), weight[:, :, :, 0])
    y[:, :, :, -1] -= F.conv1d(F.pad(up(x[:, :, :, -1]), (1, 1)), weight[:, :, :, 2])
    return y


def polyphase_forward(self: ModulatedConv, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """``ModulatedConv.forward`` with the 32 -> 64 px upsampling convolution in polyphase form."""
    if not self.upsample or x.shape[-1] != 32:
        return TODAY_FORWARD(self, x, w)
    s = self.affine(w)
    weight = self.weight
    y = polyphase(x * s[:, :, None, None], weight)
    d = torch.rsqrt(s.square() @ weight.square().sum(dim=(2, 3)).t() + 1e-8)
    return F.leaky_relu(y * d[:, :, None, None] + self.bias[None, :, None, None], 0.2) * 2 ** 0.5


TODAY_FORWARD = ModulatedConv.forward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x, weight = torch.randn(2, 16, 32, 32, dtype=torch.float64), torch.randn(8, 16, 3, 3, dtype=torch.float64)
    print(f"largest |difference|: float64 {(today(x, weight) - polyphase(x, weight)).abs().max():.1e}, "
          f"float32 {(today(x.float(), weight.float()) - polyphase(x.float(), weight.float())).abs().max():.1e}")
    for batch, in_ch, out_ch, side in [(200, 16, 8, 32), (200, 32, 16, 16), (200, 64, 32, 8)]:
        x = torch.randn(batch, in_ch, side, side, requires_grad=True)
        weight = torch.randn(out_ch, in_ch, 3, 3, requires_grad=True)
        grad = torch.randn(batch, out_ch, 2 * side, 2 * side)
        times = {"today": [], "polyphase": []}
        for _ in range(args.repeats):
            for name, layer in (("today", today), ("polyphase", polyphase)):
                start = time.perf_counter()
                for _ in range(5):
                    layer(x, weight).backward(grad)
                times[name].append(round((time.perf_counter() - start) / 5 * 1000))
        print(f"{side} -> {2 * side} px, {in_ch} -> {out_ch} channels, ms: {times}")
    generator, encoder, perceptual = load("generator"), load("encoder"), load("perceptual")
    images = Population(0).render(1_005_000 + np.arange(200), np.zeros(200), np.zeros(200), 64)[0]
    invert(generator, encoder, images[:20], steps=2, perceptual=perceptual)  # warm-up
    times, latents = {"today": [], "polyphase": []}, {}
    for _ in range(args.repeats):
        for name, forward in (("today", TODAY_FORWARD), ("polyphase", polyphase_forward)):
            ModulatedConv.forward = forward
            start = time.perf_counter()
            latents[name], _ = invert(generator, encoder, images, steps=4, perceptual=perceptual)
            times[name].append(round((time.perf_counter() - start) / 4 * 1000))
    ModulatedConv.forward = TODAY_FORWARD
    print(f"inversion step of 200 images, ms: {times}; "
          f"largest |latent difference| after 4 steps {(latents['today'] - latents['polyphase']).abs().max():.3f}")


if __name__ == "__main__":
    main()
