"""ER-Rand as PAPER.md defines it: K distinct sessions, or round-robin when K exceeds them."""

import numpy as np
import pytest
import torch
from replay_helpers import buffer_sessions, clustered_sessions, run_stream

from facebench.replay import Pool
from facebench.strategies.er_rand import ERRand, round_robin_draws


def _counts(sessions, rows):
    return np.array([np.bincount(sessions[row], minlength=sessions.max() + 1) for row in rows])


def test_k_at_most_the_sessions_gives_one_item_of_each_of_k_random_sessions():
    sessions = np.repeat([0, 1, 2, 3, 4], [3, 1, 4, 20, 2])
    rows = round_robin_draws(sessions, 3, np.random.default_rng(0), 20000)
    counts = _counts(sessions, rows)
    assert counts.max() == 1 and (counts.sum(1) == 3).all()
    # every session equally likely (3/5), whatever its size; items uniform within a session
    np.testing.assert_allclose(counts.mean(0), 0.6, atol=0.02)
    within = np.bincount(rows[np.isin(rows, np.flatnonzero(sessions == 3))], minlength=len(sessions))[sessions == 3]
    np.testing.assert_allclose(within / within.sum(), 1 / 20, atol=0.01)


def test_k_beyond_the_sessions_is_balanced_round_robin():
    sessions = np.repeat([0, 1, 2], [6, 6, 20])
    counts = _counts(sessions, round_robin_draws(sessions, 5, np.random.default_rng(1), 6000))
    assert set(map(tuple, counts)) == {(2, 2, 1), (2, 1, 2), (1, 2, 2)}  # floor(5/3) or floor(5/3) + 1
    np.testing.assert_allclose(counts.mean(0), 5 / 3, atol=0.05)  # the extras go to random sessions


def test_a_session_that_runs_out_drops_out():
    sessions = np.repeat([0, 1, 2], [5, 2, 20])
    counts = _counts(sessions, round_robin_draws(sessions, 10, np.random.default_rng(2), 200))
    assert (counts == [4, 2, 4]).all()
    everything = round_robin_draws(sessions, 40, np.random.default_rng(2), 3)
    assert everything.shape == (3, 27) and (everything == np.arange(27)).all()


def test_draws_are_reproducible_and_distinct_items():
    sessions = np.repeat([0, 1], [4, 4])
    a = round_robin_draws(sessions, 5, np.random.default_rng(3), 50)
    b = round_robin_draws(sessions, 5, np.random.default_rng(3), 50)
    assert (a == b).all() and all(len(set(row)) == 5 for row in a.tolist())


def test_select_on_a_pool():
    sessions = np.repeat([7, 9], [3, 5])
    pool = Pool(np.zeros((8, 2), np.float32), torch.zeros(8, 3, 1, 1), sessions, np.zeros(8))
    chosen = ERRand(2).select(pool, 2, np.random.default_rng(0))
    assert sorted(sessions[chosen]) == [7, 9]


@pytest.mark.parametrize("k", [1, 3, 7])
def test_through_a_replay_plugin(k):
    snapshots = run_stream(ERRand(k, seed=0), clustered_sessions(sessions=4, per_session=5))
    for t, snapshot in enumerate(snapshots):
        counts = np.bincount(buffer_sessions(snapshot), minlength=t + 1)
        assert len(snapshot) == min(k, 5 * (t + 1))
        if k >= t + 1:  # every session seen so far, balanced
            assert (counts > 0).all() and counts.max() - counts.min() <= 1
        else:  # k distinct sessions, one item each
            assert counts.max() == 1 and (counts > 0).sum() == k
