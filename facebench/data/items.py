"""Personalisation items: the (latent, image) training samples of a person, as Avalanche datasets.

An item is the tuple ``(w, x, 0)``: latent w (D,) float32, image x (3, H, W) float32 in [0, 1],
task label 0. Its dataset carries the data attributes ``targets_task_labels`` (all 0),
``session`` (the item's session index in the stream) and, for items that have been in a
replay pool, ``spread`` (``facebench.replay.session_spread``). The runner's anchors, replay
buffers, resumed buffers and the conformance kit's synthetic streams are all built here.
"""

from __future__ import annotations

from typing import Sequence

import torch
from avalanche.benchmarks.utils import AvalancheDataset, DataAttribute


def items_dataset(latents: torch.Tensor, images: torch.Tensor, sessions: int | Sequence[int],
                  spread: Sequence[float] | None = None) -> AvalancheDataset:
    """The dataset of items ``(latents[i], images[i], 0)``; ``sessions``: one session index for
    every item, or one per item; ``spread``: per item, or None for no ``spread`` attribute."""
    n = len(latents)
    sessions = [int(sessions)] * n if isinstance(sessions, int) else [int(s) for s in sessions]
    attributes = [DataAttribute([0] * n, "targets_task_labels"), DataAttribute(sessions, "session")]
    if spread is not None:
        attributes.append(DataAttribute([float(s) for s in spread], "spread"))
    return AvalancheDataset([torch.utils.data.TensorDataset(latents, images, torch.zeros(n, dtype=torch.long))],
                            data_attributes=attributes)


def item_tensors(data, *fields: int) -> tuple[torch.Tensor, ...]:
    """The given fields of every item of a non-empty dataset, each stacked over the items.

    For personalisation items ``(w, x, t)``: field 0 gives the latents (N, D), field 1 the
    images (N, 3, H, W), as stored.
    """
    items = [data[i] for i in range(len(data))]
    return tuple(torch.stack([torch.as_tensor(item[f]) for item in items]) for f in fields)
