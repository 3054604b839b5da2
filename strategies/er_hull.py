"""ER-Hull: of 5000 timestamp-balanced candidate buffers, keep the one whose convex hull in W best covers the pool."""

from __future__ import annotations

import itertools
import math

import numpy as np

from facebench import register_strategy
from facebench.hull import hull_distances
from facebench.replay import Pool, ReplayBuffer
from facebench.strategies.er_rand import round_robin_draws

__all__ = ["ERHull", "balanced_candidates", "candidate_scores", "hull_distances"]

CANDIDATES = 5000
"""The number of candidate buffers (the paper's)."""


@register_strategy("er-hull")
class ERHull(ReplayBuffer):
    """ER-Hull (Wang et al. 2025): a random-hypothesis search for the buffer whose hull covers the pool.

    1. Candidates: ``balanced_candidates`` (every timestamp-balanced buffer if there are at
       most 5000, else 5000 distinct random ER-Rand draws).
    2. Score: ``candidate_scores`` (mean over sessions of the mean distance of the session's
       pool latents outside the candidate to the candidate's convex hull in W).
    3. Keep the candidate with the lowest score (the first of equals).
    """

    def select(self, pool: Pool, k: int, rng: np.random.Generator) -> list[int]:
        candidates = balanced_candidates(pool.sessions, k, rng)
        scores = candidate_scores(pool.latents, pool.sessions, candidates, pool.spread)
        return candidates[int(np.argmin(scores))].tolist()


def balanced_candidates(sessions, k: int, rng: np.random.Generator, limit: int = CANDIDATES) -> np.ndarray:
    """Timestamp-balanced candidate buffers of min(k, N) pool items: (C, min(k, N)) int array, rows sorted.

    Balanced: with n sessions in the pool, each session gives floor(k/n) or floor(k/n) + 1
    items (so one item from each of k distinct sessions when k <= n); a session with fewer
    items gives all it has, and the others share its remainder the same way (water filling:
    exactly the allotments an ER-Rand round-robin can produce). If there are at most
    ``limit`` such buffers, all of them, in a fixed order; otherwise ``limit`` distinct
    ER-Rand draws, in draw order (fewer only if 100 * limit draws do not give ``limit``
    distinct ones).
    """
    sessions = np.asarray(sessions)
    labels, session_of = np.unique(sessions, return_inverse=True)
    members = [np.flatnonzero(session_of == s) for s in range(len(labels))]
    allotments = _allotments(np.array([len(m) for m in members]), min(k, len(sessions)))
    total = sum(math.prod(math.comb(len(m), c) for m, c in zip(members, counts)) for counts in allotments)
    if total <= limit:
        rows = [np.concatenate(parts) for counts in allotments
                for parts in itertools.product(*(itertools.combinations(m, c) for m, c in zip(members, counts)))]
        return np.sort(np.array(rows, dtype=np.int64).reshape(len(rows), -1), axis=1)
    seen: dict[tuple, None] = {}
    drawn = 0
    while len(seen) < limit and drawn < 100 * limit:
        batch = round_robin_draws(sessions, k, rng, 2 * (limit - len(seen)) + 16)
        drawn += len(batch)
        for row in map(tuple, batch.tolist()):
            seen.setdefault(row, None)
            if len(seen) == limit:
                break
    return np.array(list(seen), dtype=np.int64)


def _allotments(sizes: np.ndarray, k: int) -> list[np.ndarray]:
    """Every balanced split of k items over sessions of these sizes (k <= sizes.sum()).

    Level L = the largest with sum(min(size, L)) <= k; every session gives min(size, L), and
    the remaining r items go one each to r of the sessions that have more than L items.
    """
    level = 0
    while np.minimum(sizes, level + 1).sum() <= k and level < sizes.max():
        level += 1
    base = np.minimum(sizes, level)
    extra = k - int(base.sum())
    richer = np.flatnonzero(sizes > level)
    out = []
    for chosen in itertools.combinations(richer, extra):
        counts = base.copy()
        counts[list(chosen)] += 1
        out.append(counts)
    return out


def candidate_scores(latents, sessions, candidates, spread) -> np.ndarray:
    """ER-Hull's score of each candidate buffer B; lower is better, in latent units.

        score(B) = (1/S) * sum over the S sessions s of the pool of
                   mean over pool items i of s not in B of d(w_i, conv{w_j : j in B})
                   or, if every pool item of s is in B, mean over those items of spread_i

    with d the Euclidean distance to the convex hull (``hull_distances``).

    :param latents: (N, D) pool latents.  :param sessions: (N,) their sessions.
    :param candidates: (C, K) int array of distinct pool indices per row.
    :param spread: (N,) each item's mean distance to the other training latents of its session.
    :returns: (C,) float64.
    """
    latents = np.asarray(latents, dtype=np.float64)
    candidates = np.asarray(candidates, dtype=np.int64)
    spread = np.asarray(spread, dtype=np.float64)
    in_b = np.zeros((len(candidates), len(latents)), dtype=bool)
    np.put_along_axis(in_b, candidates, True, axis=1)
    dist = np.where(in_b, 0.0, hull_distances(latents[candidates], latents, exclude=in_b))
    _, session_of = np.unique(np.asarray(sessions), return_inverse=True)
    onehot = np.eye(session_of.max() + 1)[session_of]  # (N, S)
    outside = (~in_b) @ onehot
    covered = np.where(outside > 0, (dist @ onehot) / np.maximum(outside, 1),
                       ((in_b * spread) @ onehot) / np.maximum(in_b @ onehot, 1))
    return covered.mean(1)
