"""The e4e encoder (Tov et al. 2021, ``encoder4editing``'s ``Encoder4Editing``), written anew, as
the start of every inversion into a user's StyleGAN2's W.

e4e maps a face to W+ as one base code w0 plus per-layer offsets; W space, where MyStyle
fine-tunes and this benchmark inverts, has one code, so the encoder's latent is the base code:

    E(x) = styles[0](body(input_layer(x'))) + latent_avg[0],   x' = 2 * resize_256(x) - 1

i.e. e4e's first W+ row (where every offset is zero). The parts (e4e's names; widths and
depths read from the checkpoint's shapes; e4e's own is IR-SE-50: 64 .. 512 channels):

- ``input_layer``: 3x3 convolution (no bias), batch norm, PReLU.
- ``body``: IR-SE units ``bottleneck_IR_SE`` (``res_layer``: batch norm, 3x3 convolution,
  PReLU, 3x3 convolution with the unit's stride, batch norm, squeeze-excitation ``fc1``/``fc2``
  with reduction 16; ``shortcut_layer``: a max-pool of stride s where the width stays, else a
  strided 1x1 convolution and batch norm). A unit has stride 2 where it changes the width
  and for the first unit, as in e4e's ``get_blocks``.
- ``styles.0``: ``GradualStyleBlock``: stride-2 3x3 convolutions with leaky ReLU (0.01) down
  to 1x1, then an EqualLinear.

Input: images (N, 3, H, W) in [0, 1], resized to 256 x 256 (e4e's input) bilinearly, with
antialiasing when shrinking. A pSp encoder (``GradualStyleEncoder``) has the same parts and
loads too: its latent is its first W+ row. The file is e4e's training checkpoint:
``state_dict`` (the ``encoder.`` keys are read; the offsets' ``styles.<i>`` for i >= 1, the
``latlayer`` convolutions and the ``decoder.`` are not used in W) and ``latent_avg`` (else the
generator's).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .files import ModelFileError, load_checked, read_checkpoint, state_dict, tensor
from .stylegan2 import EqualLinear, StyleGAN2, first_row

SIDE = 256
"""The side e4e encodes images at."""
LAYOUT = "an e4e encoder checkpoint (encoder4editing's Encoder4Editing, or pSp's encoder)"
USED = ("input_layer.", "body.", "styles.0.")
"""The ``encoder.`` keys the W-space encoder reads."""


class SEModule(nn.Module):
    """Squeeze-excitation: x * sigmoid(fc2(relu(fc1(mean_hw(x)))))."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        self.fc1 = nn.Conv2d(channels, channels // reduction, 1, bias=False)
        self.fc2 = nn.Conv2d(channels // reduction, channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.fc2(F.relu(self.fc1(x.mean(dim=(2, 3), keepdim=True)))))


class BottleneckIRSE(nn.Module):
    """One IR-SE unit ``in_ch -> depth`` of ``stride`` (module doc)."""

    def __init__(self, in_ch: int, depth: int, stride: int):
        super().__init__()
        self.shortcut_layer = (nn.MaxPool2d(1, stride) if in_ch == depth else
                               nn.Sequential(nn.Conv2d(in_ch, depth, 1, stride, bias=False), nn.BatchNorm2d(depth)))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(in_ch), nn.Conv2d(in_ch, depth, 3, 1, 1, bias=False), nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False), nn.BatchNorm2d(depth), SEModule(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class GradualStyleBlock(nn.Module):
    """``pools`` stride-2 3x3 convolutions (leaky ReLU 0.01) to 1x1, then an EqualLinear: (N, out_c)."""

    def __init__(self, in_c: int, out_c: int, pools: int):
        super().__init__()
        layers = []
        for i in range(pools):
            layers += [nn.Conv2d(in_c if i == 0 else out_c, out_c, 3, stride=2, padding=1), nn.LeakyReLU()]
        self.convs = nn.Sequential(*layers)
        self.linear = EqualLinear(out_c, out_c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(self.convs(x).flatten(1))


class E4EEncoder(nn.Module):
    """images (N, 3, H, W) in [0, 1] -> w (N, D): e4e's base code plus ``latent_avg`` (module doc)."""

    def __init__(self, units: list[tuple[int, int]], pools: int, w_dim: int):
        super().__init__()
        width = units[0][0]
        self.input_layer = nn.Sequential(nn.Conv2d(3, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width),
                                         nn.PReLU(width))
        self.body = nn.Sequential(*[BottleneckIRSE(a, b, 2 if i == 0 or a != b else 1)
                                    for i, (a, b) in enumerate(units)])
        self.styles = nn.ModuleList([GradualStyleBlock(units[-1][1], w_dim, pools)])
        self.register_buffer("latent_avg", torch.zeros(w_dim), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        shrink = images.shape[-1] > SIDE
        x = F.interpolate(images, size=(SIDE, SIDE), mode="bilinear", antialias=shrink, align_corners=False)
        return self.styles[0](self.body(self.input_layer(x * 2 - 1))) + self.latent_avg


def load_e4e(path: Path, generator: StyleGAN2) -> E4EEncoder:
    """The W-space encoder of the e4e checkpoint at ``path`` for ``generator``; ``ModelFileError``
    (one line) if it is not e4e's layout, does not end at 1x1 from 256 px, or encodes into
    another W than the generator's."""
    saved = read_checkpoint(path)
    whole = state_dict(path, saved, "state_dict", LAYOUT)
    state = {key[len("encoder."):]: value for key, value in whole.items() if key.startswith("encoder.")}
    read = lambda key, ndim: tensor(path, state, key, ndim, "state_dict.encoder.", LAYOUT)  # noqa: E731
    units = []
    while f"body.{len(units)}.res_layer.1.weight" in state:
        depth, in_ch = read(f"body.{len(units)}.res_layer.1.weight", 4).shape[:2]
        units.append((in_ch, depth))
    if not units:
        raise ModelFileError(f"{path}: key state_dict.encoder.body.0.res_layer.1.weight is missing: not {LAYOUT}")
    w_dim = read("styles.0.linear.weight", 2).shape[0]
    pools = sum(1 for key in state if key.startswith("styles.0.convs.") and key.endswith(".weight"))
    strided = 1 + sum(a != b for a, b in units[1:])
    if SIDE >> (strided + pools) != 1:
        raise ModelFileError(f"{path}: {strided} strided units and {pools} stride-2 convolutions of styles.0 take "
                             f"e4e's {SIDE} px input to {SIDE >> (strided + pools)} px, not 1 px: not {LAYOUT}")
    if w_dim != generator.w_dim:
        raise ModelFileError(f"{path}: encodes into a W of {w_dim} dimensions, the generator's has {generator.w_dim}")
    used = {key: value for key, value in state.items() if key.startswith(USED)}
    what = (f"an e4e encoder of {len(units)} IR-SE units (widths {units[0][0]} .. {units[-1][1]}) and a "
            f"{w_dim}-dimensional W (read from body.<i>.res_layer.1 and styles.0.linear)")
    encoder = load_checked(E4EEncoder(units, pools, w_dim), path, used, "state_dict.encoder.", what)
    mean = saved.get("latent_avg")
    encoder.latent_avg.copy_(generator.latent_avg if mean is None else first_row(path, mean, w_dim, "latent_avg"))
    return encoder
