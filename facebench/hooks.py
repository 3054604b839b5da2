"""The hooks a strategy's Avalanche plugins may offer the runner (public), as ``typing.Protocol``s.

A plugin is any Avalanche plugin; the runner asks nothing more of it. Where a plugin (or, for a
replay plugin, its storage policy) also has one of these members, the runner uses it:

- ``AdaptsModel.adapt_model(synthesis)``: change the synthesis network's structure (e.g. add
  low-rank adapters); called once before training, and before a resumed run loads its weights.
- ``ReplaysFromBuffer.storage_policy``: the plugin replays items of an Avalanche
  ``ExemplarsBuffer`` (``facebench.replay.BufferReplayPlugin``); its ``buffer`` is kept memory.
- ``KeepsMemory.kept_memory() -> (items, bytes)``: what the strategy keeps besides the model
  after the last session, ``items`` None for a strategy that keeps no items
  (``facebench.run.memory`` measures the others).
- ``TimesSelection.select_seconds``: seconds a storage policy spent choosing its buffer; the
  result file reports it apart from fine-tuning.
- ``DrawsFromSeed.drew_from_seed``: whether a storage policy (or a plugin keeping its own
  buffer) has drawn from the random generator the run's seed gave it (the result file's
  ``seed_varies`` then lists "buffer"; a storage policy without it is taken to draw).

The fine-tuning template (``facebench.run.template.PersonalizationTemplate``) gives plugins the
run's ``protocol`` (``facebench.protocol.Protocol``) as ``strategy.protocol``.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from torch import nn


@runtime_checkable
class AdaptsModel(Protocol):
    def adapt_model(self, synthesis: nn.Module) -> None:
        """Change ``synthesis`` in place before training (and before a resume loads weights)."""


@runtime_checkable
class ReplaysFromBuffer(Protocol):
    storage_policy: Any
    """An Avalanche ``ExemplarsBuffer`` whose ``buffer`` dataset holds the replayed items."""


@runtime_checkable
class KeepsMemory(Protocol):
    def kept_memory(self) -> tuple[int | None, int]:
        """(items, bytes) kept besides the model; items None for a strategy that keeps no items."""


@runtime_checkable
class TimesSelection(Protocol):
    select_seconds: float
    """Seconds spent updating the buffer (building the pool, selecting, subsetting)."""


@runtime_checkable
class DrawsFromSeed(Protocol):
    drew_from_seed: bool
    """Whether the policy has drawn from its seeded generator so far in the run."""


def storage_policies(plugins) -> list:
    """The storage policies of the replay plugins among ``plugins``, in order."""
    return [p.storage_policy for p in plugins if isinstance(p, ReplaysFromBuffer)]
