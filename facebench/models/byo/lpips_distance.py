"""LPIPS (Zhang et al. 2018, the ``lpips`` package, version 0.1) as the perceptual distance,
with its backbone's ImageNet weights read from the user's torch hub cache: never downloaded.

d(x, y) for images (N, 3, H, W) in [0, 1]: ``lpips.LPIPS(net)(x, y, normalize=True)``, i.e. both
mapped to [-1, 1], shifted and scaled by LPIPS's ``ScalingLayer``, through the backbone (vgg:
VGG16's relu1_2, relu2_2, relu3_3, relu4_3, relu5_3; alex: AlexNet's relu1 .. relu5), each
layer's features unit-normalised along channels, squared differences weighted per channel by
the learned linear heads (shipped in the ``lpips`` wheel, ``weights/v0.1/<net>.pth``), averaged
over positions and summed over layers: (N,), 0 for identical images, lower = more alike.

The backbone: ``lpips.LPIPS`` is built with ``pnet_rand=True`` (torchvision's network with
``weights=None``: nothing is fetched), then the convolution weights of torchvision's
``features`` are loaded from :func:`backbone_file`, the file torchvision would have cached
(``<torch hub dir>/checkpoints/vgg16-397923af.pth``, ``alexnet-owt-7be5be79.pth``; the hub
dir is ``$TORCH_HOME/hub``, by default ``~/.cache/torch/hub``). A file whose name carries a
hash prefix (``-397923af.``) must have a sha256 that starts with it, as torch.hub checks.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from facebench.errors import FacebenchError
from .files import ModelFileError, file_sha256, read_checkpoint

BACKBONES = {"vgg": "vgg16-397923af.pth", "alex": "alexnet-owt-7be5be79.pth"}
"""The torch hub cache file of each backbone's ImageNet weights (torchvision's IMAGENET1K_V1)."""
CONSTRUCTORS = {"vgg": "vgg16", "alex": "alexnet"}
"""The torchvision constructor of each backbone."""
HASH_PREFIX = re.compile(r"-([a-f0-9]*)\.")
"""torch.hub's pattern of the sha256 prefix in a weights file's name."""
INSTALL = "pip install 'facebench[models]'"


class LPIPSMissing(FacebenchError):
    """The ``lpips`` package is not installed."""


def backbone_file(net: str) -> Path:
    """Where torchvision caches the ImageNet weights of backbone ``net`` on this machine."""
    return Path(torch.hub.get_dir()) / "checkpoints" / BACKBONES[net]


def head_file(net: str) -> Path:
    """The ``lpips`` wheel's linear heads of ``net`` (version 0.1)."""
    return Path(_lpips().__file__).parent / "weights" / "v0.1" / f"{net}.pth"


def _missing_backbone(net: str, path: Path) -> str:
    """The error text for a backbone file that is not at ``path``: where to put which file."""
    name = BACKBONES[net]
    return (f"{path}: no such file: LPIPS ({net}) reads its backbone's ImageNet weights from the torch hub cache and "
            f"never downloads them; on a machine with internet run python -c \"import torchvision; "
            f"torchvision.models.{CONSTRUCTORS[net]}(weights='IMAGENET1K_V1')\" (or fetch "
            f"https://download.pytorch.org/models/{name}) and copy {name} to {path.parent}/ here "
            "(or point $TORCH_HOME at a folder holding hub/checkpoints/" + name + ")")


class LPIPSDistance(nn.Module):
    """``forward(x, y)``: (N,) LPIPS distance of images (N, 3, H, W) in [0, 1] (module doc)."""

    def __init__(self, net: str):
        super().__init__()
        lpips = _lpips()
        with warnings.catch_warnings():  # lpips asks torchvision with the deprecated `pretrained=False`
            warnings.simplefilter("ignore", UserWarning)
            self.lpips = lpips.LPIPS(net=net, pnet_rand=True, verbose=False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.lpips(x, y, normalize=True).flatten()


def load_lpips(net: str) -> LPIPSDistance:
    """LPIPS on backbone ``net`` with the weights of :func:`backbone_file`; ``ModelFileError`` (one
    line) if that file is missing, has another hash than its name says, or lacks a tensor."""
    path = _existing_backbone(net)
    prefix = HASH_PREFIX.search(path.name)
    if prefix and not file_sha256(path).startswith(prefix[1]):
        raise ModelFileError(f"{path}: its sha256 does not start with {prefix[1]}, as its name says: a corrupt or "
                             "other file; fetch it again")
    saved = read_checkpoint(path)
    distance = LPIPSDistance(net)
    trunk, found = distance.lpips.net, {}
    for name, want in trunk.state_dict().items():
        key = f"features.{name.split('.', 1)[1]}"  # lpips's slice<k>.<i>.weight is torchvision's features.<i>.weight
        value = saved.get(key) if isinstance(saved, Mapping) else None
        if not isinstance(value, torch.Tensor) or value.shape != want.shape:
            got = f"has shape {tuple(value.shape)}" if isinstance(value, torch.Tensor) else "is missing"
            raise ModelFileError(f"{path}: key {key} {got}, but torchvision's {CONSTRUCTORS[net]} has it of shape "
                                 f"{tuple(want.shape)}")
        found[name] = value
    trunk.load_state_dict(found)
    return distance.eval()


def sha256(net: str) -> str:
    """What identifies LPIPS on ``net`` here: the sha256 (hex) of the two weights files' sha256s,
    the head's then the backbone's, joined by a newline; ``ModelFileError`` if the backbone is missing."""
    digests = f"{file_sha256(head_file(net))}\n{file_sha256(_existing_backbone(net))}"
    return hashlib.sha256(digests.encode()).hexdigest()


def _existing_backbone(net: str) -> Path:
    """:func:`backbone_file`, if it exists; ``ModelFileError`` saying how to get it otherwise."""
    path = backbone_file(net)
    if not path.is_file():
        raise ModelFileError(_missing_backbone(net, path))
    return path


def _lpips():
    """The ``lpips`` package."""
    try:
        import lpips
    except ImportError:
        raise LPIPSMissing(f"the lpips perceptual distance needs the lpips package: {INSTALL}") from None
    return lpips
