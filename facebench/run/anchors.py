"""Anchors: a person's training images inverted once into the generic generator's W space.

Every training image x of a person is inverted with the *generic* generator (encoder start,
then ``Protocol.anchor_steps`` steps of latent optimisation, ``facebench.models.invert``); the
pair (w, x) is a training sample from then on. Anchors are cached on disk, keyed by the
generic models' sha256s, the device, the card hash, the person, the hash of the person's
images (``Scenario.images_sha256``: the photos themselves, not just the card's text) and the
inversion settings, so that a changed asset, card, photo or setting never reuses a stale cache. The cache folder is
``$FACEBENCH_CACHE`` or ``~/.cache/facebench``.
"""

from __future__ import annotations

import hashlib
import json

import torch

from facebench.atomic import save_torch
from facebench.cache import cache_dir
from facebench.models import invert
from facebench.models.generic import GenericModels
from facebench.protocol import Protocol


def anchors_key(models: GenericModels, card_sha256: str, person: str, images_sha256: str, protocol: Protocol) -> str:
    """The cache key of a person's anchors: sha256 of everything they depend on."""
    parts = {
        "zoo": models.sha256,
        "device": models.device.type,
        "card": card_sha256,
        "person": person,
        "images": images_sha256,
        "anchor_steps": protocol.anchor_steps,
        "inversion_lr": protocol.inversion_lr,
        "l2_weight": protocol.l2_weight,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def person_anchors(models: GenericModels, scenario, person: str, protocol: Protocol) -> list[torch.Tensor]:
    """Per session, the (n_train, w_dim) anchors of the person's training images (cached)."""
    key = anchors_key(models, scenario.card.sha256, person, scenario.images_sha256(person), protocol)
    path = cache_dir() / "anchors" / f"{key}.pt"
    if path.exists():
        try:
            return list(torch.load(path, weights_only=True))
        except Exception:  # a truncated or corrupt cache file is recomputed, never trusted
            path.unlink(missing_ok=True)
    sessions = scenario.sessions(person)
    images = torch.cat([s.train.images for s in sessions]).to(models.device)
    latents, _ = invert(models.generator, models.encoder, images, steps=protocol.anchor_steps,
                        lr=protocol.inversion_lr, perceptual=models.perceptual, l2_weight=protocol.l2_weight)
    anchors = list(torch.split(latents.cpu(), [len(s.train.frames) for s in sessions]))
    path.parent.mkdir(parents=True, exist_ok=True)
    save_torch(path, anchors)
    return anchors
