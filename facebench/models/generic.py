"""The generic models of a card, as a run uses them: frozen, on one device.

Four roles (``facebench.data.cards.ROLES``): the generator G0 (mapping + synthesis, W space),
its encoder E, the perceptual distance (the LPIPS role) and the identity network (the ArcFace
role). Each is the zoo's asset at the card's resolution (``facebench.models.zoo``; backend name
``faceworld``, the default) or the user's model the card's ``models`` section names
(``facebench.models.byo.load``). Each role's sha256 (the zoo card's, or the user's file's)
is what anchors and results are keyed by; each role's backend name is what a result records so
that a board never mixes backends.

``GenericModels.load(resolution, device)`` loads the zoo's four assets; ``GenericModels.for_card``
what a card names.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from facebench.data.cards import FACEWORLD, ROLES
from facebench.models import zoo
from facebench.models.byo import load as byo

ZOO_BACKENDS = dict.fromkeys(ROLES, FACEWORLD)
"""The backend of every role of a card without a ``models`` section."""


@dataclass(frozen=True)
class GenericModels:
    """The four generic models, their sha256s and their backend names (role -> hex digest, name)."""

    generator: nn.Module
    encoder: nn.Module
    perceptual: nn.Module
    identity: nn.Module
    sha256: dict[str, str]
    backends: dict[str, str]

    @classmethod
    def load(cls, resolution: int, device: str = "cpu") -> "GenericModels":
        """The zoo's four assets at ``resolution``, frozen, on ``device``."""
        return cls._frozen({role: zoo.load(role, resolution) for role in ROLES}, asset_sha256s(resolution),
                           dict(ZOO_BACKENDS), device)

    @classmethod
    def for_card(cls, card, device: str = "cpu") -> "GenericModels":
        """The models ``card`` (a ``facebench.data.cards.Card``) names, frozen, on ``device``; its
        files are checked (their sha256s first) before any loads."""
        if "models" not in card.data:
            return cls.load(card.data["resolution"], device)
        hashes, modules = card_sha256s(card), {}
        for role in ROLES:  # the generator first: a user's encoder reads it
            modules[role] = (zoo.load(role, card.data["resolution"]) if _is_zoo(card, role)
                             else byo.load(card, role, modules.get("generator")))
        return cls._frozen(modules, hashes, card_backends(card), device)

    @classmethod
    def _frozen(cls, modules: dict[str, nn.Module], hashes: dict, backends: dict, device: str) -> "GenericModels":
        for module in modules.values():
            module.to(device).requires_grad_(False)
        return cls(**modules, sha256=hashes, backends=backends)

    @property
    def device(self):
        """The torch device the models are on."""
        return next(self.generator.parameters()).device


def asset_sha256s(resolution: int) -> dict[str, str]:
    """The sha256 of each role's asset at ``resolution``, from the zoo's cards (nothing loaded;
    ``GenericModels.load`` checks each file against it)."""
    return {role: zoo.card(role, resolution)["sha256"] for role in ROLES}


def card_sha256s(card) -> dict[str, str]:
    """The sha256 of each role's model of ``card`` (module doc), without loading any; a user's
    file that is missing or differs from the card's ``sha256`` is a ``ModelFileError``."""
    if "models" not in card.data:
        return asset_sha256s(card.data["resolution"])
    return {role: zoo.card(role, card.data["resolution"])["sha256"] if _is_zoo(card, role) else byo.sha256(card, role)
            for role in ROLES}


def card_backends(card) -> dict[str, str]:
    """The backend name of each role's model of ``card`` (``faceworld`` for the zoo's)."""
    if "models" not in card.data:
        return dict(ZOO_BACKENDS)
    return {role: FACEWORLD if _is_zoo(card, role) else byo.backend(card.data["models"][role]) for role in ROLES}


def _is_zoo(card, role: str) -> bool:
    return card.data["models"][role]["kind"] == FACEWORLD
