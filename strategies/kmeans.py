"""KMeans-K: k-means with K clusters on the pool latents; keep the item nearest each centre."""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from facebench import register_strategy
from facebench.replay import Pool, ReplayBuffer

RESTARTS = 10
"""k-means runs from different k-means++ starts; the one of least inertia is kept."""


@register_strategy("kmeans")
class KMeans(ReplayBuffer):
    """KMeans-K (the paper's baseline): the pool items nearest the K centres of a k-means of the pool latents.

    k-means: Lloyd's algorithm from k-means++ starts until the assignment is stable, the best
    of ``RESTARTS`` runs by inertia (sum of squared distances to the nearest centre). The
    nearest items are made distinct by a minimum-total-distance assignment of items to
    centres (the same items whenever the nearest ones are already distinct). A pool of at
    most K items is kept whole.
    """

    def select(self, pool: Pool, k: int, rng: np.random.Generator) -> list[int]:
        if len(pool) <= k:
            return list(range(len(pool)))
        w = pool.latents.astype(np.float64)
        centres = min((kmeans(w, k, rng) for _ in range(RESTARTS)), key=lambda run: run[1])[0]
        _, items = linear_sum_assignment(np.linalg.norm(centres[:, None] - w[None], axis=-1))
        return items.tolist()


def kmeans(points: np.ndarray, k: int, rng: np.random.Generator, max_iter: int = 300) -> tuple[np.ndarray, float]:
    """One k-means run (k-means++ start, Lloyd iterations): (centres (k, D), inertia)."""
    centres = [points[rng.integers(len(points))]]
    for _ in range(1, k):  # k-means++: the next centre with probability proportional to squared distance
        d2 = np.min(((points[:, None] - np.array(centres)[None]) ** 2).sum(-1), axis=1)
        centres.append(points[rng.choice(len(points), p=d2 / d2.sum() if d2.sum() > 0 else None)])
    centres = np.array(centres)
    labels = None
    for _ in range(max_iter):
        d2 = ((points[:, None] - centres[None]) ** 2).sum(-1)
        new = d2.argmin(1)
        if labels is not None and np.array_equal(new, labels):
            break
        labels = new
        for c in range(k):  # a centre left without points stays where it is
            if np.any(labels == c):
                centres[c] = points[labels == c].mean(0)
    d2 = ((points[:, None] - centres[None]) ** 2).sum(-1)
    return centres, float(d2.min(1).sum())
