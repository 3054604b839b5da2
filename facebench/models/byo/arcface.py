"""ArcFace identity embeddings from a backbone in insightface's ``iresnet`` layout
(``recognition/arcface_torch/backbones/iresnet.py``), written anew.

The network (insightface's names; widths read from the checkpoint's shapes, insightface's own
are 64, 64, 128, 256, 512 and 512 features):

- stem: ``conv1`` 3x3 (no bias), ``bn1``, ``prelu``;
- ``layer1`` .. ``layer4``: ``IBasicBlock`` units (``bn1``, ``conv1`` 3x3, ``bn2``, ``prelu``,
  ``conv2`` 3x3 with the unit's stride, ``bn3``, plus the input, through ``downsample`` = 1x1
  strided convolution and batch norm in each stage's first unit, stride 2); units per stage:
  :data:`UNITS` of the card's ``layers`` (18: 2, 2, 2, 2; 34: 3, 4, 6, 3; 50: 3, 4, 14, 3;
  100: 3, 13, 30, 3);
- ``bn2``, flatten (C x 7 x 7 at the 112 px input), ``fc``, ``features`` (batch norm 1-d).
  Batch norms in eval mode (eps 1e-5).

The embedding of images (N, 3, H, W) in [0, 1], FFHQ-aligned: resized to 256 x 256, the face
region rows 35..222 and columns 32..219 cut out (the crop pSp's and e4e's identity loss takes
of FFHQ-aligned faces for ArcFace), average-pooled to 112 x 112, mapped to [-1, 1]
(insightface's ``(x / 255 - 0.5) / 0.5`` on RGB), through the network, divided by its length.
So identity similarity is the cosine similarity, the dot product, in [-1, 1], higher = more
alike (the contract of ``facebench.models.identity.IdentityNet``).

The file is the backbone's state dict, as insightface's ``arcface_torch`` saves it
(``model.pt`` / ``backbone.pth``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .files import ModelFileError, load_checked, read_checkpoint, tensor

UNITS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 14, 3), 100: (3, 13, 30, 3)}
"""IBasicBlock units per stage of insightface's iresnet18, 34, 50 and 100."""
FACE_ROWS, FACE_COLUMNS, SIDE, INPUT = (35, 223), (32, 220), 256, 112
"""The face region of a 256 px FFHQ-aligned image (rows, columns, end excluded), and the
network's input side."""
LAYOUT = "an ArcFace backbone in insightface's iresnet layout"


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=1e-5)


class IBasicBlock(nn.Module):
    """One unit ``inplanes -> planes`` of ``stride`` (module doc); ``downsample`` in a stage's first."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        self.bn1, self.conv1 = _bn(inplanes), nn.Conv2d(inplanes, planes, 3, 1, 1, bias=False)
        self.bn2, self.prelu = _bn(planes), nn.PReLU(planes)
        self.conv2, self.bn3 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False), _bn(planes)
        self.downsample = (nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), _bn(planes))
                           if stride != 1 or inplanes != planes else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn3(self.conv2(self.prelu(self.bn2(self.conv1(self.bn1(x))))))
        return out + (x if self.downsample is None else self.downsample(x))


class IResNet(nn.Module):
    """112 x 112 images in [-1, 1] -> (N, features) raw embeddings (module doc)."""

    def __init__(self, units: tuple[int, ...], widths: tuple[int, ...], features: int):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, widths[0], 3, 1, 1, bias=False), _bn(widths[0])
        self.prelu = nn.PReLU(widths[0])
        for stage, (count, width) in enumerate(zip(units, widths[1:]), start=1):
            before = widths[stage - 1]
            self.add_module(f"layer{stage}", nn.Sequential(
                IBasicBlock(before, width, 2), *[IBasicBlock(width, width) for _ in range(count - 1)]))
        self.bn2 = _bn(widths[-1])
        self.fc = nn.Linear(widths[-1] * (INPUT // 16) ** 2, features)
        self.features = nn.BatchNorm1d(features, eps=1e-5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.prelu(self.bn1(self.conv1(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.features(self.fc(self.bn2(x).flatten(1)))


class ArcFaceIdentity(nn.Module):
    """images (N, 3, H, W) in [0, 1], FFHQ-aligned -> (N, features) unit embeddings (module doc)."""

    def __init__(self, network: IResNet):
        super().__init__()
        self.network = network

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(images, size=(SIDE, SIDE), mode="bilinear", antialias=images.shape[-1] > SIDE,
                          align_corners=False)
        face = F.adaptive_avg_pool2d(x[:, :, slice(*FACE_ROWS), slice(*FACE_COLUMNS)], INPUT)
        return F.normalize(self.network(face * 2 - 1), dim=1)


def load_arcface(path: Path, layers: int) -> ArcFaceIdentity:
    """The identity network of the iresnet``layers`` state dict at ``path``; ``ModelFileError``
    (one line) if it is not that layout (another depth included)."""
    state = read_checkpoint(path)
    if not isinstance(state, Mapping):
        raise ModelFileError(f"{path}: holds a {type(state).__name__}, not a state dict: not {LAYOUT}")
    found = tuple(len({key.split(".")[1] for key in state if key.startswith(f"layer{stage}.")}) for stage in range(1, 5))
    if found != UNITS[layers]:
        depth = next((f"iresnet{n}'s" for n, units in UNITS.items() if units == found), "no iresnet's")
        raise ModelFileError(f"{path}: its stages have {'/'.join(map(str, found))} units ({depth}), but the card's "
                             f"models.identity.layers {layers} needs {'/'.join(map(str, UNITS[layers]))}")
    read = lambda key, ndim: tensor(path, state, key, ndim, "", LAYOUT)  # noqa: E731
    widths = (read("conv1.weight", 4).shape[0],
              *(read(f"layer{stage}.0.conv1.weight", 4).shape[0] for stage in range(1, 5)))
    features = read("fc.weight", 2).shape[0]
    what = (f"iresnet{layers} of widths {'/'.join(map(str, widths))} and {features} features "
            "(read from conv1, layer<s>.0.conv1 and fc)")
    return ArcFaceIdentity(load_checked(IResNet(UNITS[layers], widths, features), path, state, "", what)).eval()
