"""ER-Rand: K random sessions with one random image each, or round-robin over all sessions when K exceeds them."""

from __future__ import annotations

import numpy as np

from facebench import register_strategy
from facebench.replay import Pool, ReplayBuffer


@register_strategy("er-rand")
class ERRand(ReplayBuffer):
    """ER-Rand ("constrained random", Wang et al. 2025): a random timestamp-balanced buffer.

    If K <= the number of distinct sessions in the pool: K distinct random sessions, one random
    image of each. Otherwise: the sessions in random order, taking one random remaining image
    of each in turn (a session drops out when it has none left) until K are chosen. Not
    reservoir sampling.
    """

    def select(self, pool: Pool, k: int, rng: np.random.Generator) -> list[int]:
        return round_robin_draws(pool.sessions, k, rng, 1)[0].tolist()


def round_robin_draws(sessions, k: int, rng: np.random.Generator, count: int) -> np.ndarray:
    """``count`` independent ER-Rand selections of ``k`` items: (count, min(k, N)) int array, rows sorted.

    One draw gives every session a random key in [0, 1) (the order of the round-robin) and
    every item a random rank within its session; item i's turn is rank_i + key_(session of i),
    and the k items of smallest turn are chosen: round r takes the items of rank r, one per
    session that still has one, in key order. When k <= S (sessions) that is "k distinct
    random sessions, one random image of each".
    """
    sessions = np.asarray(sessions)
    n = len(sessions)
    labels, session_of, sizes = np.unique(sessions, return_inverse=True, return_counts=True)
    session_key = rng.random((count, len(labels)))
    grouped = np.argsort(session_of[None, :] + rng.random((count, n)), axis=1)  # by session, shuffled within
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.empty((count, n))
    np.put_along_axis(rank, grouped, np.arange(n)[None, :] - starts[session_of[grouped]], axis=1)
    turn = rank + session_key[:, session_of]
    return np.sort(np.argsort(turn, axis=1)[:, : min(k, n)], axis=1)
