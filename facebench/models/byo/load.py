"""A card's model roles that are not FaceWorld's: each one's backend name, sha256 and module.

The kinds (``facebench.data.cards.ModelsSection``) and what a result records of them:

| role | kind | backend name | sha256 of |
| --- | --- | --- | --- |
| generator | stylegan2-rosinality | stylegan2-rosinality | the checkpoint file |
| encoder | e4e | e4e | the checkpoint file |
| encoder | mean-latent | mean-latent | the generator's checkpoint (the mean latent is its) |
| perceptual | lpips | lpips-vgg, lpips-alex | the head and backbone files (``lpips_distance.sha256``) |
| identity | dlib | dlib-resnet-v1 | dlib's descriptor model file |
| identity | arcface-iresnet | arcface-iresnet18, 34, 50, 100 | the state dict file |

A file a card names (``path``) is relative to the card's folder; a card's ``sha256``, where
given, must be the file's.
"""

from __future__ import annotations

from torch import nn

from .arcface import load_arcface
from .e4e import load_e4e
from .files import checked_sha256, locate
from .lpips_distance import load_lpips
from .lpips_distance import sha256 as lpips_sha256
from .mean_latent import MeanLatentEncoder
from .stylegan2 import load_stylegan2


def backend(spec: dict) -> str:
    """The backend name of a role's ``spec`` (the card's ``models.<role>``; table in the module doc)."""
    kind = spec["kind"]
    if kind == "lpips":
        return f"lpips-{spec['net']}"
    if kind == "dlib":
        from facebench.models.dlib_identity import NAME

        return NAME
    if kind == "arcface-iresnet":
        return f"arcface-iresnet{spec['layers']}"
    return kind


def sha256(card, role: str) -> str:
    """The sha256 that identifies ``card``'s model of ``role`` (module doc), without loading it."""
    spec = card.data["models"][role]
    kind = spec["kind"]
    if kind == "mean-latent":
        return sha256(card, "generator")
    if kind == "lpips":
        return lpips_sha256(spec["net"])
    if kind == "dlib":
        from facebench.models.dlib_identity import model_sha256

        return model_sha256()
    return checked_sha256(locate(card, role, spec), role, spec)


def load(card, role: str, generator: nn.Module | None) -> nn.Module:
    """``card``'s model of ``role``, in eval mode; ``generator``: the card's generator, already
    loaded (an encoder reads it)."""
    spec = card.data["models"][role]
    kind = spec["kind"]
    if kind == "stylegan2-rosinality":
        return load_stylegan2(locate(card, role, spec), card.data["resolution"])
    if kind == "e4e":
        return load_e4e(locate(card, role, spec), generator)
    if kind == "mean-latent":
        return MeanLatentEncoder(generator.latent_avg)
    if kind == "lpips":
        return load_lpips(spec["net"])
    if kind == "dlib":
        from facebench.models.dlib_identity import DlibIdentity

        return DlibIdentity()
    return load_arcface(locate(card, role, spec), spec["layers"])
