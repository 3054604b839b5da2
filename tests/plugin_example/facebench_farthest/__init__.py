"""farthest-first: a third-party facebench replay strategy (the worked example of CONTRIBUTING.md)."""

from __future__ import annotations

import numpy as np

from facebench import register_strategy
from facebench.replay import Pool, ReplayBuffer


@register_strategy("farthest-first")
class FarthestFirst(ReplayBuffer):
    """Farthest-first traversal of the pool latents: a random first item, then the farthest from those kept.

    Greedy k-centre (Gonzalez 1985): each next item is the pool item whose Euclidean distance
    in W to its nearest kept item is largest, so the kept items cover the pool within twice
    the smallest possible radius.
    """

    def select(self, pool: Pool, k: int, rng: np.random.Generator) -> list[int]:
        w = pool.latents.astype(np.float64)
        chosen = [int(rng.integers(len(pool)))]
        nearest = np.linalg.norm(w - w[chosen[0]], axis=1)  # each item's distance to its nearest kept item
        while len(chosen) < min(k, len(pool)):
            nearest[chosen] = -np.inf  # never again, even where latents coincide
            chosen.append(int(np.argmax(nearest)))
            nearest = np.minimum(nearest, np.linalg.norm(w - w[chosen[-1]], axis=1))
        return chosen
