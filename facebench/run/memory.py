"""What a strategy keeps between sessions besides the model it fine-tunes: items and bytes.

Measured on the run's plugins after the last session, so every strategy is measured the same way:

- a replay plugin (``facebench.hooks.ReplaysFromBuffer``): its storage policy's ``kept_memory()``
  if it has one (``facebench.hooks.KeepsMemory``), else ``items`` = the buffer's length and
  ``bytes`` = ``buffer_bytes`` of the buffer;
- any other plugin: its own ``kept_memory()`` if it has one, else ``items`` = none and
  ``bytes`` = the bytes of every tensor and array reachable from its attributes (for Avalanche's
  regularisers: the saved parameters and their importances), each storage counted once.

``kept_memory()`` returns ``(items, bytes)``, ``items`` None for a strategy that keeps no items.
A strategy whose training data are themselves a memory (cumulative: every session so far; joint:
every session at once; ``facebench.run.kinds``) adds those items (``held``), counted like a buffer's.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import torch

from facebench.data.items import item_tensors
from facebench.hooks import KeepsMemory, ReplaysFromBuffer

MAX_DEPTH = 8
"""How deep attribute walking follows containers and objects."""


def kept_memory(plugins: Iterable, held=None) -> dict:
    """``{"items": int | None, "bytes": int, "bytes_per_item": float | None}`` over ``plugins``
    and the dataset ``held`` (training data kept as such), if given."""
    items, total = (None, 0) if held is None else (len(held), buffer_bytes(held))
    for plugin in plugins:
        owner = plugin.storage_policy if isinstance(plugin, ReplaysFromBuffer) else plugin
        if isinstance(owner, KeepsMemory):
            n, size = owner.kept_memory()
        elif owner is not plugin:
            n, size = len(owner.buffer), buffer_bytes(owner.buffer)
        else:
            n, size = None, tensor_bytes(vars(plugin))
        total += int(size)
        if n is not None:
            items = (items or 0) + int(n)
    per_item = total / items if items else None
    return {"items": items, "bytes": total, "bytes_per_item": per_item}


def buffer_bytes(buffer, images: bool = True) -> int:
    """Bytes of a buffer dataset's items ``(w, x, t)``: each latent w, and each image x (as
    stored: float32) unless ``images`` is False."""
    if len(buffer) == 0:
        return 0
    payload = item_tensors(buffer, *((0, 1) if images else (0,)))
    return sum(t.numel() * t.element_size() for t in payload)


def tensor_bytes(obj) -> int:
    """Bytes of every tensor and numpy array reachable from ``obj`` through containers and object
    attributes (``MAX_DEPTH`` levels), each storage counted once."""
    seen: set = set()

    def walk(x, depth: int) -> int:
        if depth > MAX_DEPTH or id(x) in seen:
            return 0
        seen.add(id(x))
        if isinstance(x, torch.Tensor):
            key = ("storage", x.untyped_storage().data_ptr())
            if key in seen:
                return 0
            seen.add(key)
            return x.untyped_storage().nbytes()
        if isinstance(x, np.ndarray):
            return x.nbytes
        if isinstance(x, torch.nn.Module):
            return sum(walk(t, depth + 1) for t in x.state_dict(keep_vars=True).values())
        if isinstance(x, dict):
            return sum(walk(v, depth + 1) for v in x.values())
        if isinstance(x, (list, tuple, set, frozenset)):
            return sum(walk(v, depth + 1) for v in x)
        if hasattr(x, "__dict__") and not isinstance(x, type):
            return walk(vars(x), depth + 1)
        return 0

    return walk(obj, 0)
