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
"""

from __future__ import annotations

import hashlib

import numpy as np
from avalanche.core import SupervisedPlugin

from facebench.data.items import item_tensors
from facebench.hooks import DrawsFromSeed, storage_policies


def seed_varies(plugins) -> list[str]:
    """What the run's seed changed, from its plugins after the run (module docstring)."""
    policies = storage_policies(plugins)
    drew = any(not isinstance(p, DrawsFromSeed) or p.drew_from_seed for p in policies)
    drew |= any(isinstance(p, DrawsFromSeed) and p.drew_from_seed for p in plugins)  # a plugin's own buffer (GDumb)
    return ["batch_order", "p0_samples", *(["buffer"] if drew else [])]


class BufferHistory(SupervisedPlugin):
    """Avalanche plugin, placed after the strategy's plugins: ``sha256`` is the chained hash of
    the replay buffers' contents (module docstring); None for a run without a replay buffer."""

    def __init__(self, plugins):
        super().__init__()
        self.plugins = list(plugins)
        self.sha256 = hashlib.sha256(b"").hexdigest() if self.policies else None

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
