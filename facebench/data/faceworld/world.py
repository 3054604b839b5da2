"""FaceWorld: deterministic persons, sessions and frames, and the pretraining population.

Every random draw comes from a numpy ``SeedSequence(entropy=world_seed, spawn_key=key)``
(:func:`seeded`):

* identity of person p:          key (domain, p)
* factors of session s of p:     key (domain, p, 1, s)
* frame f of session s of p:     key (domain, p, 2, s, f)   (frame factors, then pixel noise)
* the ``life`` process's draws:  keys (domain, p, 3, ...)   (see ``life``)

A *session process* says what a session and a frame look like given the person: the
default, :class:`Independent`, draws every session's look on its own (the keys above);
``life.Life`` draws them from a person's repertoire. The identity is the same under both.

``domain`` is 0 for the benchmark persons of a ``FaceWorld`` and 1 for the ``Population``
used to pretrain the generic models, so no population identity can ever share its seed with
a benchmark person, whatever the world seed. An image depends only on its own key and the
process (under ``life``, also on its person's repertoire and its session's chain draws, keys
of its own person): the same (world seed, process, person, session, frame) gives the same
bytes in any batch.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable
from functools import lru_cache

import numpy as np
import torch

from .factors import NO_DRIFT, Factors, sample_group
from .render import render

BENCHMARK_DOMAIN = 0
POPULATION_DOMAIN = 1
_BATCH = 64
_SIZES = range(32, 257)


def seeded(world_seed: int, *key: int) -> np.random.Generator:
    """The generator of the draws named by ``key`` in world ``world_seed`` (module doc)."""
    return np.random.default_rng(np.random.SeedSequence(entropy=world_seed, spawn_key=key))


@lru_cache(maxsize=65536)
def _identity(world_seed: int, domain: int, person: int) -> dict[str, float]:
    return sample_group("identity", seeded(world_seed, domain, person))


@lru_cache(maxsize=65536)
def _session(world_seed: int, domain: int, person: int, session: int) -> dict[str, float]:
    return {**sample_group("session", seeded(world_seed, domain, person, 1, session)), **NO_DRIFT}


class SessionProcess(ABC):
    """How a person's sessions and frames are drawn: the base of :class:`Independent` and
    ``life.Life``. ``session`` gives the session and drift factors (raw values) of a session;
    ``frame`` the frame factors of one frame, drawn from ``rng`` (the frame's generator, whose
    next draws are the frame's pixel noise); ``frame`` may set session factors too (a pose
    beyond the frame table's range), which then hold for that frame only."""

    @abstractmethod
    def session(self, world_seed: int, domain: int, person: int, session: int) -> dict[str, float]:
        """The session and drift factors of ``session`` of ``person``."""

    @abstractmethod
    def frame(self, session: dict[str, float], rng: np.random.Generator) -> dict[str, float]:
        """The factors of one frame of a session whose factors are ``session``."""


class Independent(SessionProcess):
    """FaceWorld's default: every session's factors drawn on their own from the tables of
    ``factors`` (key (domain, p, 1, s)), no drift, frames drawn from the frame table."""

    def session(self, world_seed: int, domain: int, person: int, session: int) -> dict[str, float]:
        return _session(world_seed, domain, person, session)

    def frame(self, session: dict[str, float], rng: np.random.Generator) -> dict[str, float]:
        return sample_group("frame", rng)


INDEPENDENT = Independent()


def _check_size(size: int) -> None:
    if not isinstance(size, (int, np.integer)) or size not in _SIZES:
        raise ValueError(f"FaceWorld image size must be an integer in 32..256, got {size!r}")


def render_keys(world_seed: int, domain: int, keys: np.ndarray, size: int,
                process: SessionProcess = INDEPENDENT) -> tuple[torch.Tensor, Factors]:
    """Render the images of ``keys`` ((N, 3) int rows: person, session, frame), their sessions
    and frames drawn by ``process``.

    Returns (N, 3, size, size) float32 images in [0, 1] and their ``Factors``.
    """
    _check_size(size)
    keys = np.asarray(keys, dtype=np.int64).reshape(-1, 3)
    if (keys < 0).any():
        raise ValueError("FaceWorld person, session and frame indices must be >= 0")
    rows, noise = [], np.empty((len(keys), 3, size, size), dtype=np.float32)
    for i, (person, session, frame) in enumerate(keys.tolist()):
        rng = seeded(world_seed, domain, person, 2, session, frame)
        looks = process.session(world_seed, domain, person, session)
        row = {**_identity(world_seed, domain, person), **looks, **process.frame(looks, rng)}
        rows.append(row)
        noise[i] = rng.standard_normal((3, size, size), dtype=np.float32)
    factors = Factors.from_rows(rows) if rows else Factors({})
    if not rows:
        return torch.zeros(0, 3, size, size), factors
    chunks = [
        render({k: v[i:i + _BATCH] for k, v in factors.values.items()}, noise[i:i + _BATCH], size)
        for i in range(0, len(keys), _BATCH)
    ]
    return torch.cat(chunks), factors


class FaceWorld:
    """The benchmark persons of one world seed: person p, session s, frame f -> an image, the
    sessions and frames drawn by ``process`` (default: :class:`Independent`)."""

    def __init__(self, world_seed: int = 0, process: SessionProcess = INDEPENDENT):
        self.world_seed = int(world_seed)
        self.process = process

    def render(self, person: int, session: int, frames: Iterable[int], size: int = 64):
        """Images and factors of ``frames`` of one session of one person (see ``render_keys``)."""
        frames = np.fromiter(frames, dtype=np.int64)
        keys = np.stack([np.full_like(frames, person), np.full_like(frames, session), frames], 1)
        return render_keys(self.world_seed, BENCHMARK_DOMAIN, keys, size, self.process)

    def identity(self, person: int) -> dict[str, float]:
        """The identity factors of ``person`` (raw values)."""
        return dict(_identity(self.world_seed, BENCHMARK_DOMAIN, int(person)))

    def session(self, person: int, session: int) -> dict[str, float]:
        """The session and drift factors of ``session`` of ``person`` (raw values)."""
        return dict(self.process.session(self.world_seed, BENCHMARK_DOMAIN, int(person), int(session)))


class Population:
    """Any number of random identities with random sessions, for pretraining the zoo.

    Identities live in their own seed domain: they never coincide with a benchmark person.
    """

    def __init__(self, world_seed: int = 0):
        self.world_seed = int(world_seed)

    def render(self, identities, sessions, frames, size: int = 64):
        """Images and factors of the triplets (identities[i], sessions[i], frames[i])."""
        keys = np.stack([np.asarray(a, dtype=np.int64).reshape(-1) for a in (identities, sessions, frames)], 1)
        return render_keys(self.world_seed, POPULATION_DOMAIN, keys, size)
