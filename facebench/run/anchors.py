"""Anchors: a person's training images inverted once into the generic generator's W space.

Every training image x of a person is inverted with the *generic* generator (encoder start,
then ``Protocol.anchor_steps`` steps of latent optimisation, ``facebench.models.invert``); the
pair (w, x) is a training sample from then on. Anchors are cached on disk, keyed by the
generic models' sha256s, the device, the card hash, the person, the hash of the person's
images (``Scenario.images_sha256``: the photos themselves, not just the card's text) and the
inversion settings, so that a changed asset, card, photo or setting never reuses a stale cache. The cache folder is
``$FACEBENCH_CACHE`` or ``~/.cache/facebench``.

Once per person per cache: the computation holds an exclusive lock (``fcntl.flock``) on the
file ``<key>.lock`` beside the cache entry, and looks at the cache again once it holds it, so
processes that ask at once (a sweep's workers, Ray tasks sharing a cache) compute the anchors
once; the others wait for the lock and load them. The lock is the operating system's: it goes
with the process that held it, however that ends. On a cache shared over NFS, Linux emulates
``flock`` with NFS byte-range locks, so the nodes compute once between them; on a filesystem
without locks, each process computes its own (correct, since the cache file is written
atomically, only slower).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import errno
import json
from pathlib import Path

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
    """Per session, the (n_train, w_dim) anchors of the person's training images (cached;
    computed under the entry's lock when missing, see the module's docstring)."""
    key = anchors_key(models, scenario.card.sha256, person, scenario.images_sha256(person), protocol)
    path = cache_dir() / "anchors" / f"{key}.pt"
    anchors = _cached(path)
    if anchors is not None:
        return anchors
    path.parent.mkdir(parents=True, exist_ok=True)
    with _locked(path.with_suffix(".lock")):
        anchors = _cached(path)  # computed by whoever held the lock before
        if anchors is None:
            anchors = _computed(models, scenario.sessions(person), protocol)
            save_torch(path, anchors)
    return anchors


def _cached(path: Path) -> list[torch.Tensor] | None:
    """The anchors cached at ``path``; None when there are none (a truncated or corrupt file is
    removed: recomputed, never trusted)."""
    if not path.exists():
        return None
    try:
        return list(torch.load(path, weights_only=True))
    except Exception:  # noqa: BLE001 - any unreadable cache file is recomputed
        path.unlink(missing_ok=True)
        return None


_NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)
"""What ``flock`` fails with on a filesystem that has no locks."""


@contextlib.contextmanager
def _locked(path: Path):
    """Hold an exclusive ``flock`` on ``path`` (created if missing), waiting for it; hold
    nothing on a filesystem without locks."""
    with open(path, "a") as file:
        try:
            fcntl.flock(file, fcntl.LOCK_EX)
        except OSError as error:
            if error.errno not in _NO_LOCKS:
                raise
        yield  # the lock goes when the file closes


def _computed(models: GenericModels, sessions, protocol: Protocol) -> list[torch.Tensor]:
    """The anchors of ``sessions``' training images: inverted with the generic models, split by session."""
    images = torch.cat([s.train.images for s in sessions]).to(models.device)
    latents, _ = invert(models.generator, models.encoder, images, steps=protocol.anchor_steps,
                        lr=protocol.inversion_lr, perceptual=models.perceptual, l2_weight=protocol.l2_weight)
    return list(torch.split(latents.cpu(), [len(s.train.frames) for s in sessions]))
