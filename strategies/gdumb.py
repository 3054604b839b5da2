"""GDumb: a greedy session-balanced buffer; each session retrains the generic model on the buffer alone."""

from __future__ import annotations

import copy

import numpy as np
from avalanche.core import SupervisedPlugin

from facebench import register_strategy
from facebench.run.memory import buffer_bytes


@register_strategy("gdumb")
def gdumb(buffer_size: int, seed: int = 0) -> list:
    """GDumb (Prabhu et al. 2020): a greedy session-balanced buffer, and a model trained from the generic one on it alone.

    Buffer: items arrive in stream order; an item is added while the buffer holds fewer than K;
    once full, an item whose session holds fewer items than the largest session of the buffer
    replaces a random item of a largest session (ties: a random one of them), else it is
    dropped. Sessions play the part of GDumb's classes, so the buffer stays balanced over them.
    Training: at every session, after the buffer has taken in the session's items, the
    generator is reset to the generic one (weights and Adam state) and fine-tuned on the buffer
    alone for ``steps_per_session`` mini-batches of ``batch_new + batch_replay`` samples (the
    size of a replay run's mini-batches). Kept memory: the K photos with their latents (the
    generic weights ship with facebench and are not counted).
    """
    return [GDumbPlugin(buffer_size, seed)]


class GDumbPlugin(SupervisedPlugin):
    """The buffer and the reset of GDumb (see ``gdumb``); ``buffer`` is the current buffer dataset;
    ``drew_from_seed``: whether a replacement was drawn from the seeded generator so far
    (``facebench.hooks.DrawsFromSeed``)."""

    def __init__(self, max_size: int, seed: int = 0):
        super().__init__()
        self.max_size = int(max_size)  # checked by the registry, as for every strategy taking buffer_size
        self.rng = np.random.default_rng(seed)
        self.buffer = None
        self.generic = None  # the generator's weights before the first session
        self.drew_from_seed = False

    def after_train_dataset_adaptation(self, strategy, **kwargs):
        before = self.rng.bit_generator.state
        self.buffer = greedy_balanced(self.buffer, strategy.adapted_dataset, self.max_size, self.rng)
        self.drew_from_seed |= self.rng.bit_generator.state != before
        strategy.adapted_dataset = self.buffer
        strategy.train_mb_size = strategy.protocol.batch_new + strategy.protocol.batch_replay

    def before_training_exp(self, strategy, **kwargs):
        if self.generic is None:
            self.generic = copy.deepcopy(strategy.model.state_dict())
        strategy.model.load_state_dict(self.generic)
        strategy.optimizer.state.clear()

    def kept_memory(self) -> tuple[int, int]:
        return (0, 0) if self.buffer is None else (len(self.buffer), buffer_bytes(self.buffer))


def greedy_balanced(buffer, new, k: int, rng: np.random.Generator):
    """GDumb's greedy class-balanced sampler with sessions as classes: the buffer after ``new``'s
    items (in order) have been offered to ``buffer`` (None: empty) of capacity ``k``."""
    items = [(None, i) for i in range(len(buffer))] if buffer is not None else []
    sessions = [int(s) for s in buffer.session] if buffer is not None else []
    for i, session in enumerate(int(s) for s in new.session):
        if len(items) < k:
            items.append(("new", i))
            sessions.append(session)
            continue
        counts = np.bincount(sessions, minlength=session + 1)
        if counts[session] >= counts.max():
            continue
        largest = np.flatnonzero(counts[np.asarray(sessions)] == counts.max())
        out = int(rng.choice(largest))
        items[out], sessions[out] = ("new", i), session
    kept_old = [i for source, i in items if source is None]
    kept_new = [i for source, i in items if source == "new"]
    parts = ([buffer.subset(kept_old)] if kept_old else []) + ([new.subset(kept_new)] if kept_new else [])
    out = parts[0]
    for part in parts[1:]:
        out = out.concat(part)
    return out
