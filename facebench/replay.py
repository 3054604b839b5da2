"""The base class of replay strategies: an Avalanche storage policy that delegates one decision.

A replay strategy subclasses ``ReplayBuffer`` and implements only

    select(self, pool: Pool, k: int, rng: numpy.random.Generator) -> list[int]

which returns the indices (distinct, at most k) of the pool items to keep. The buffer is used
through ``BufferReplayPlugin`` (Avalanche's ``ReplayPlugin``): after each training experience
the plugin calls ``post_adapt``, which builds the pool = (the buffer so far) + (the
experience's training items), calls ``select`` with the buffer's own generator (seeded from
the run seed), checks the answer and keeps the chosen items as the new buffer. An answer that
is not such a list of indices stops the run with a ``SelectionError``.

The replay dose (protocol v2) is exact: while the buffer is non-empty, every optimiser step of
a replay run holds exactly ``batch_new`` new samples (the template's ``train_mb_size``) and
exactly ``batch_replay`` replayed ones (the plugin's ``batch_size_mem``), whatever K. The
replayed samples of a step are distinct buffer items when the buffer holds at least
``batch_replay`` items, else drawn uniformly with replacement. ``ExactReplayLoader`` defines the
batches; its randomness comes from its own generator, seeded from the run seed and the
experience index only (``replay_loader_seed``), never from torch's global generator. The first
experience (empty buffer) uses the template's own data loader, as a run without replay does.

Items are those of the personalisation datasets: tuples ``(w, x, t)`` (latent (D,), image
(3, H, W), task label 0) with the data attributes ``targets_task_labels`` and ``session``.
When an item first enters the pool the buffer adds a third attribute, ``spread``: the mean
Euclidean distance from the item's latent to the other training latents of its session
(the whole session is in the experience at that moment; 0 for a session of one item). It
travels with the item, so ER-Hull can use it sessions later.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from dataclasses import dataclass
from numbers import Integral

import numpy as np
import torch
from avalanche.benchmarks.utils import AvalancheDataset
from avalanche.benchmarks.utils.utils import concat_datasets
from avalanche.training.plugins import ReplayPlugin
from avalanche.training.storage_policy import ExemplarsBuffer

from facebench.data.items import item_tensors, items_dataset
from facebench.errors import FacebenchError


class SelectionError(FacebenchError):
    """A replay strategy's ``select`` returned something other than distinct integer indices of
    pool items, at most k of them; the message names the strategy's class, the session and the fault."""


@dataclass(frozen=True, eq=False)
class Pool:
    """The items a replay strategy chooses from, index i for item i.

    latents: float32 (N, D), the anchors w.  images: torch float (N, 3, H, W).
    sessions: int64 (N,), each item's session.  spread: float64 (N,), each item's mean
    distance to the other training latents of its session (latent units).
    """

    latents: np.ndarray
    images: torch.Tensor
    sessions: np.ndarray
    spread: np.ndarray

    def __len__(self) -> int:
        return len(self.sessions)

    @classmethod
    def from_dataset(cls, data: AvalancheDataset) -> "Pool":
        """The pool of a personalisation dataset that carries the ``session`` and ``spread`` attributes."""
        latents, images = item_tensors(data, 0, 1)
        return cls(
            latents=latents.numpy().astype(np.float32),
            images=images,
            sessions=np.asarray([int(s) for s in data.session], dtype=np.int64),
            spread=np.asarray([float(s) for s in data.spread], dtype=np.float64),
        )


def session_spread(latents: np.ndarray, sessions: np.ndarray) -> np.ndarray:
    """Per item: the mean Euclidean distance from its latent to the other latents of its session
    (0 for an item alone in its session). latents (N, D), sessions (N,) -> (N,) float64."""
    w = np.asarray(latents, dtype=np.float64)
    sessions = np.asarray(sessions)
    spread = np.zeros(len(w))
    for s in np.unique(sessions):
        members = np.flatnonzero(sessions == s)
        if len(members) > 1:
            dist = np.linalg.norm(w[members, None] - w[None, members], axis=-1)
            spread[members] = dist.sum(1) / (len(members) - 1)
    return spread


LOADER_SEED_SALT = 1009
"""Mixed into the seed of ``ExactReplayLoader``'s generator, to keep its stream apart from the
other generators seeded from the run seed."""


def replay_loader_seed(seed: int, experience: int) -> int:
    """The seed of the replay loader of experience ``experience`` in a run of seed ``seed``:
    ``numpy.random.SeedSequence([seed, LOADER_SEED_SALT, experience]).generate_state(1)[0]``."""
    return int(np.random.SeedSequence([int(seed), LOADER_SEED_SALT, int(experience)]).generate_state(1)[0])


class ExactReplayLoader:
    """The training mini-batches of a replay experience: exactly ``batch_new`` new and exactly
    ``batch_replay`` replayed samples in every one.

    Definition. Let N be the number of new items (the experience's training data), M >= 1 that
    of the buffer's items, and g a ``torch.Generator`` seeded with ``seed`` when the loader is
    built (``replay_loader_seed(run seed, experience index)``). Each iteration of the loader (one
    epoch) yields ``len(self)`` = max(1, N // batch_new) mini-batches, drawn from g in order:

    - new samples: if N >= batch_new, a fresh random permutation of the N items (``randperm``)
      cut into N // batch_new consecutive mini-batches of exactly batch_new items; the last
      N mod batch_new items of the permutation are not used in that epoch. If N < batch_new,
      the one mini-batch draws batch_new items uniformly with replacement.
    - replayed samples, drawn per mini-batch after the epoch's permutation, one mini-batch at a
      time: batch_replay distinct items (the first batch_replay of a fresh permutation of the
      buffer) if M >= batch_replay, else batch_replay items drawn uniformly with replacement.

    The generator continues across epochs (each epoch gets a new permutation) and is the only
    source of randomness: torch's global generator is never drawn from, so the batches depend
    only on the data, the batch sizes and ``seed``.

    A mini-batch is what torch's default collate gives for the list of its items ``(w, x, t)``,
    the new items first and the replayed after: ``[w (B, D), x (B, 3, H, W), t (B,)]`` with
    B = batch_new + batch_replay. The items' fields are stacked once, when the loader is built;
    each mini-batch indexes those tensors (on the CPU; the template moves them to its device).
    """

    def __init__(self, new_data, buffer, *, batch_new: int, batch_replay: int, seed: int):
        for name, size in (("batch_new", batch_new), ("batch_replay", batch_replay)):
            if isinstance(size, bool) or not isinstance(size, Integral) or size < 1:
                raise ValueError(f"ExactReplayLoader: {name} must be a positive integer, got {size!r}")
        if len(new_data) == 0 or len(buffer) == 0:
            raise ValueError(f"ExactReplayLoader needs new items and buffer items, got {len(new_data)} new "
                             f"and {len(buffer)} in the buffer")
        self.batch_new, self.batch_replay, self.seed = int(batch_new), int(batch_replay), int(seed)
        self.new = item_tensors(new_data, 0, 1, 2)
        self.replay = item_tensors(buffer, 0, 1, 2)
        self.generator = torch.Generator().manual_seed(self.seed)

    @property
    def n_new(self) -> int:
        return len(self.new[0])

    @property
    def n_replay(self) -> int:
        return len(self.replay[0])

    def __len__(self) -> int:
        return max(1, self.n_new // self.batch_new)

    def __iter__(self):
        g = self.generator
        if self.n_new >= self.batch_new:
            new = torch.randperm(self.n_new, generator=g)[: len(self) * self.batch_new].view(len(self), self.batch_new)
        else:
            new = torch.randint(self.n_new, (1, self.batch_new), generator=g)
        for picks in new:
            if self.n_replay >= self.batch_replay:
                replayed = torch.randperm(self.n_replay, generator=g)[: self.batch_replay]
            else:
                replayed = torch.randint(self.n_replay, (self.batch_replay,), generator=g)
            yield [torch.cat([a[picks], b[replayed]]) for a, b in zip(self.new, self.replay)]


class BufferReplayPlugin(ReplayPlugin):
    """Avalanche's ``ReplayPlugin`` with an exact replay dose, updating its storage policy through ``post_adapt``.

    Dose: once the buffer holds items, every optimiser step gets exactly ``batch_new`` new
    samples (``batch_size``, default: the template's ``train_mb_size``) and exactly
    ``batch_replay`` replayed ones (``batch_size_mem``, default: ``train_mb_size`` too), whatever
    K: replayed samples of a step are distinct buffer items when the buffer holds at least
    ``batch_replay``, else drawn uniformly with replacement (``ExactReplayLoader``). Avalanche's
    own ``ReplayDataLoader`` emitted short buffer batches instead (the mean replayed per step
    grew with K). The loader's generator is seeded from ``seed`` (the run seed) and the
    experience's index in the stream (``replay_loader_seed``), so a run resumed at an
    experience boundary gets exactly the batches of an uninterrupted one. While the buffer is
    empty (the first experience) the template's own data loader is left as it is.

    After each training experience Avalanche 0.6's plugin calls the policy's ``update``, which
    Avalanche marks deprecated and which only calls ``post_adapt(strategy, strategy.experience)``.
    Its deprecation decorator warns and sets the process's DeprecationWarning filter to "once",
    so every run printed the warning. This plugin calls ``post_adapt`` itself: any
    ``ExemplarsBuffer``, Avalanche's or ours, works unchanged.
    """

    def __init__(self, mem_size: int = 200, batch_size: int | None = None, batch_size_mem: int | None = None,
                 task_balanced_dataloader: bool = False, storage_policy: ExemplarsBuffer | None = None, *,
                 seed: int = 0):
        if task_balanced_dataloader:
            raise ValueError("BufferReplayPlugin: task-balanced replay is not supported "
                             "(its loader is ExactReplayLoader)")
        super().__init__(mem_size=mem_size, batch_size=batch_size, batch_size_mem=batch_size_mem,
                         storage_policy=storage_policy)
        self.seed = int(seed)

    def before_training_exp(self, strategy, **kwargs):
        buffer = self.storage_policy.buffer
        if len(buffer) == 0:
            return  # the first experience: the template's own loader, as without replay
        strategy.dataloader = ExactReplayLoader(
            strategy.adapted_dataset, buffer,
            batch_new=strategy.train_mb_size if self.batch_size is None else self.batch_size,
            batch_replay=strategy.train_mb_size if self.batch_size_mem is None else self.batch_size_mem,
            seed=replay_loader_seed(self.seed, strategy.experience.current_experience),
        )

    def after_training_exp(self, strategy, **kwargs):
        self.storage_policy.post_adapt(strategy, strategy.experience)


class ReplayBuffer(ExemplarsBuffer):
    """Base of facebench's replay strategies (an Avalanche ``ExemplarsBuffer``); subclasses implement ``select``.

    :param max_size: K, the most items the buffer holds.
    :param seed: seeds the buffer's own ``numpy.random.Generator``, the ``rng`` given to ``select``.

    ``select_seconds`` accumulates the seconds spent updating the buffer (building the pool,
    selecting, subsetting); ``drew_from_seed`` says whether any ``select`` drew from ``rng``
    (``facebench.hooks.DrawsFromSeed``). ``state_dict``/``load_state_dict`` cover the generator,
    the content, that time and that flag; the buffer is also picklable as a whole.
    """

    def __init__(self, max_size: int, seed: int = 0):
        super().__init__(max_size)
        self.rng = np.random.default_rng(seed)
        self.select_seconds = 0.0
        self.drew_from_seed = False

    @abstractmethod
    def select(self, pool: Pool, k: int, rng: np.random.Generator) -> list[int]:
        """The indices of the pool items to keep: distinct, in range, at most ``k`` of them.

        Use only ``rng`` for randomness, so that a run is reproducible from its seed.
        """

    def post_adapt(self, agent_state, exp):
        """Choose the new buffer from (the buffer so far) + (the experience's items)."""
        (latents,) = item_tensors(exp.dataset, 0)
        sessions = np.asarray([int(s) for s in exp.dataset.session])
        new = exp.dataset.update_data_attribute("spread", session_spread(latents.numpy(), sessions).tolist())
        # the empty initial buffer carries no data attributes, and concat keeps only the first's
        self.buffer = self._choose(new if len(self.buffer) == 0 else self.buffer.concat(new), self.max_size)

    def resize(self, strategy, new_size: int):
        """Set K; a buffer now too large is reselected from its own items."""
        self.max_size = new_size
        if len(self.buffer) > new_size:
            self.buffer = self._choose(self.buffer, new_size)

    def _choose(self, data: AvalancheDataset, k: int) -> AvalancheDataset:
        start = time.perf_counter()
        pool = Pool.from_dataset(data)
        before = self.rng.bit_generator.state
        chosen = self.select(pool, k, self.rng)
        self.drew_from_seed |= self.rng.bit_generator.state != before
        _check_selection(chosen, pool, k, type(self))
        subset = data.subset(sorted(int(i) for i in chosen))
        self.select_seconds += time.perf_counter() - start
        return subset

    def state_dict(self) -> dict:
        """The generator's state, the buffer's content as tensors, K and ``select_seconds``."""
        return {
            "rng": self.rng.bit_generator.state,
            "max_size": self.max_size,
            "select_seconds": self.select_seconds,
            "drew_from_seed": self.drew_from_seed,
            "content": buffer_content(self.buffer),
        }

    def load_state_dict(self, state: dict) -> None:
        self.rng.bit_generator.state = state["rng"]
        self.max_size = state["max_size"]
        self.select_seconds = state["select_seconds"]
        self.drew_from_seed = state["drew_from_seed"]
        self.buffer = buffer_dataset(state["content"])


def _check_selection(chosen, pool: Pool, k: int, strategy: type) -> None:
    """Raise ``SelectionError`` unless ``chosen`` is a list of distinct integer indices of ``pool``,
    at most ``k``; the session named is the newest of the pool (the update follows its training)."""
    where = (f"replay strategy {strategy.__module__}.{strategy.__qualname__}: its select, after session "
             f"{int(pool.sessions.max())} (pool of {len(pool)} items, K = {k}),")
    try:
        picks = list(chosen)
    except TypeError:
        raise SelectionError(f"{where} returned {type(chosen).__name__}, not a list of indices") from None
    if not all(isinstance(i, Integral) and not isinstance(i, bool) for i in picks):
        raise SelectionError(f"{where} returned non-integer indices: {picks!r}")
    if any(not 0 <= i < len(pool) for i in picks):
        raise SelectionError(f"{where} returned an index out of range 0..{len(pool) - 1}: {picks!r}")
    if len(set(int(i) for i in picks)) != len(picks):
        raise SelectionError(f"{where} returned repeated indices: {picks!r}")
    if len(picks) > k:
        raise SelectionError(f"{where} returned {len(picks)} indices, more than K = {k}")


def buffer_content(data: AvalancheDataset) -> dict:
    """A buffer's items and attributes as tensors (empty tensors for an empty buffer)."""
    if len(data) == 0:
        return {}
    latents, images = item_tensors(data, 0, 1)
    return {
        "latents": latents,
        "images": images,
        "sessions": torch.as_tensor([int(s) for s in data.session]),
        "spread": torch.as_tensor([float(s) for s in data.spread], dtype=torch.float64),
    }


def buffer_dataset(content: dict) -> AvalancheDataset:
    """The buffer dataset of ``buffer_content``'s tensors: items (w, x, 0) with targets_task_labels, session, spread."""
    if not content:
        return concat_datasets([])  # what ExemplarsBuffer starts with
    return items_dataset(content["latents"], content["images"], content["sessions"].tolist(), content["spread"].tolist())
