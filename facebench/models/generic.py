"""The generic models of one resolution, as a run uses them: frozen, on one device.

``GenericModels.load(resolution, device)`` loads the zoo's four assets (``facebench.models.zoo``)
at that resolution: the generator G0 (mapping + synthesis, W space), its encoder E, the
perceptual distance (the LPIPS role) and the identity network (the ArcFace role), with every
weight frozen, and records each asset's sha256 (what anchors and results are keyed by).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from facebench.models import zoo

ROLES = ("generator", "encoder", "perceptual", "identity")


@dataclass(frozen=True)
class GenericModels:
    """The four generic models of one resolution and their asset sha256s (role -> hex digest)."""

    generator: nn.Module
    encoder: nn.Module
    perceptual: nn.Module
    identity: nn.Module
    sha256: dict[str, str]

    @classmethod
    def load(cls, resolution: int, device: str = "cpu") -> "GenericModels":
        """The zoo's four assets at ``resolution``, frozen, on ``device``."""
        modules = {role: zoo.load(role, resolution).to(device) for role in ROLES}
        for module in modules.values():
            module.requires_grad_(False)
        return cls(**modules, sha256=asset_sha256s(resolution))

    @property
    def device(self):
        """The torch device the models are on."""
        return next(self.generator.parameters()).device


def asset_sha256s(resolution: int) -> dict[str, str]:
    """The sha256 of each role's asset at ``resolution``, from the zoo's cards (nothing loaded;
    ``GenericModels.load`` checks each file against it)."""
    return {role: zoo.card(role, resolution)["sha256"] for role in ROLES}
