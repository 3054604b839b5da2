"""What a run's seed reached, and which buffers a replay run trained with.

``seed_varies``: the parts of a run its seed changes (``facebench.board.schema.SEEDED``):
always the order of the mini-batches and the P0 samples; the replay buffer's choices where a
storage policy, or a plugin keeping a buffer of its own (GDumb), drew from its seeded generator
(``facebench.hooks.DrawsFromSeed``; a storage policy that cannot say is taken to draw). ER-Hull's enumerated optimum draws nothing, by design: its seeds
then differ in batch order and P0 samples only.

``BufferHistory``: h_0 = sha256(b""); after training experience t (once the strategy's plugins
have updated their buffers), h_{t+1} = sha256(h_t || for each replay buffer, in order: its
items' sessions as int64 || their latents as float32), in hex. Two runs with the same final h
trained with the same buffers in the same order: a board counts distinct buffer histories, not
seeds, when it states n for a buffer comparison.

``BufferHistory.record()``: what the per-session diagnosis (``facebench.board.diagnosis``) needs,
the result file's ``replay_buffer`` (None for a run without a replay buffer):

- ``sessions[t]``: after experience t, the session of every item of the replay buffers (the
  buffers in plugin order, each in its own item order; the items the hash above chains);
- ``items[t]``: for each of those items, its index among its session's training anchors (the
  row of ``anchors[session]`` its latent equals exactly, float32 bits), None where no anchor
  equals it;
- ``hull_distance[k]``, for every session k: the mean, over session k's training anchors
  (the latents w of its training images, the very points a buffer stores), of the Euclidean
  (L2) distance in latent space, in latent units, from the anchor to the convex hull of the
  final buffer's latents (the items of every replay buffer after the last experience),
  ``facebench.hull.hull_distances`` (certified to ``facebench.hull.RTOL``). An anchor that the
  final buffer holds is at distance 0. None where the final buffer is empty.

An entry of ``sessions`` and ``items`` is None for an experience the history did not see: a run
resumed from a checkpoint written before facebench recorded them (``resumed``).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch
from avalanche.core import SupervisedPlugin

from facebench.data.items import item_tensors
from facebench.hooks import DrawsFromSeed, storage_policies
from facebench.hull import hull_distances


def seed_varies(plugins) -> list[str]:
    """What the run's seed changed, from its plugins after the run (module docstring)."""
    policies = storage_policies(plugins)
    drew = any(not isinstance(p, DrawsFromSeed) or p.drew_from_seed for p in policies)
    drew |= any(isinstance(p, DrawsFromSeed) and p.drew_from_seed for p in plugins)  # a plugin's own buffer (GDumb)
    return ["batch_order", "p0_samples", *(["buffer"] if drew else [])]


class BufferHistory(SupervisedPlugin):
    """Avalanche plugin, placed after the strategy's plugins: ``sha256`` is the chained hash of
    the replay buffers' contents (module docstring); None for a run without a replay buffer.
    ``sessions`` and ``items``: the buffers' sessions and item indices after each experience so far
    (module docstring); ``anchors``: per session, the (n_train, D) training latents the items are
    named by and the hull distances measured from (None: items not named, no hull distances).

    Pickled (a checkpoint keeps it with the strategy's plugins: ``facebench.run.runner``), it
    leaves out the plugins and the anchors, which a resumed run builds afresh."""

    def __init__(self, plugins, anchors=None):
        super().__init__()
        self.plugins = list(plugins)
        self.anchors = None if anchors is None else [torch.as_tensor(a).detach().cpu() for a in anchors]
        self.sha256 = hashlib.sha256(b"").hexdigest() if self.policies else None
        self.sessions: list[list[int] | None] = []
        self.items: list[list[int | None] | None] = []

    def __getstate__(self):
        return {key: value for key, value in self.__dict__.items() if key not in ("plugins", "anchors")}

    @property
    def policies(self) -> list:
        """The plugins' storage policies now: looked up at every use, since restoring a checkpoint
        (``facebench.run.checkpoint.restore``) replaces a plugin's attributes, its storage policy
        included."""
        return storage_policies(self.plugins)

    def after_training_exp(self, strategy, **kwargs):
        policies = self.policies
        if not policies:
            return
        digest = hashlib.sha256(bytes.fromhex(self.sha256))
        for policy in policies:
            if len(policy.buffer):
                (latents,) = item_tensors(policy.buffer, 0)
                digest.update(np.asarray([int(s) for s in policy.buffer.session], dtype=np.int64).tobytes())
                digest.update(latents.numpy().astype(np.float32).tobytes())
        self.sha256 = digest.hexdigest()
        sessions, items, _ = self._buffer_now()
        self.sessions.append(sessions)
        self.items.append(items)

    def resumed(self, experiences_done: int) -> None:
        """After a restore: the experiences done that the history did not see (a checkpoint written
        before facebench recorded them) are None."""
        missing = experiences_done - len(self.sessions)
        self.sessions += [None] * missing
        self.items += [None] * missing

    def record(self) -> dict | None:
        """The result file's ``replay_buffer`` at the end of the run (module docstring); None
        without a replay buffer."""
        if not self.policies:
            return None
        sessions, items, latents = self._buffer_now()
        if self.sessions and self.sessions[-1] is None:  # the buffer after the last experience is the buffer now
            self.sessions[-1], self.items[-1] = sessions, items
        return {"sessions": [None if s is None else list(s) for s in self.sessions],
                "items": [None if i is None else list(i) for i in self.items],
                "hull_distance": self.hull_distance(latents)}

    def hull_distance(self, latents: np.ndarray) -> list[float] | None:
        """Per session: the mean distance of its anchors to the convex hull of ``latents`` (K, D)
        (module docstring); None without anchors or without a latent."""
        if self.anchors is None or not len(latents):
            return None
        points = torch.cat([a.reshape(len(a), -1) for a in self.anchors]).numpy().astype(np.float32)
        distances = hull_distances(latents.astype(np.float64)[None], points.astype(np.float64))[0]
        bounds = np.cumsum([0, *(len(a) for a in self.anchors)])
        return [float(distances[lo:hi].mean()) if hi > lo else None for lo, hi in zip(bounds[:-1], bounds[1:])]

    def _buffer_now(self) -> tuple[list[int], list[int | None], np.ndarray]:
        """The items of every replay buffer now, in order: their sessions, their indices among
        their session's anchors (None: none equals it), their latents (N, D) as float32."""
        sessions, latents = [], []
        for policy in self.policies:
            if len(policy.buffer):
                (mine,) = item_tensors(policy.buffer, 0)
                sessions += [int(s) for s in policy.buffer.session]
                latents.append(mine.detach().cpu().reshape(len(mine), -1).numpy().astype(np.float32))
        latents = np.concatenate(latents) if latents else np.zeros((0, 0), np.float32)
        return sessions, [self._item_index(s, w) for s, w in zip(sessions, latents)], latents

    def _item_index(self, session: int, latent: np.ndarray) -> int | None:
        """The row of ``anchors[session]`` equal to ``latent`` (float32 bits), None if none is."""
        if self.anchors is None or not 0 <= session < len(self.anchors):
            return None
        rows = self.anchors[session].reshape(len(self.anchors[session]), -1).numpy().astype(np.float32)
        if rows.shape[1] != latent.shape[0]:
            return None
        hits = np.flatnonzero((rows.view(np.uint32) == latent.view(np.uint32)).all(1))
        return int(hits[0]) if len(hits) else None
