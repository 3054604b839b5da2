"""KMeans-K: the pool items nearest the centres of a k-means of the pool latents."""

import numpy as np
import torch
from replay_helpers import buffer_sessions, clustered_sessions, run_stream

from facebench.replay import Pool
from facebench.strategies.kmeans import KMeans, kmeans


def _pool(latents, sessions=None):
    n = len(latents)
    sessions = np.zeros(n, np.int64) if sessions is None else np.asarray(sessions)
    return Pool(np.asarray(latents, np.float32), torch.zeros(n, 3, 1, 1), sessions, np.zeros(n))


def test_one_item_per_cluster_the_nearest_to_its_mean():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    latents = np.concatenate([c + rng.normal(0, 0.5, (6, 2)) for c in centres])
    chosen = KMeans(3).select(_pool(latents), 3, np.random.default_rng(1))
    clusters = [latents[6 * c:6 * c + 6] for c in range(3)]
    expected = [6 * c + int(np.argmin(np.linalg.norm(m - m.mean(0), axis=1))) for c, m in enumerate(clusters)]
    assert sorted(chosen) == expected


def test_a_small_pool_is_kept_whole():
    assert KMeans(5).select(_pool(np.eye(3)), 5, np.random.default_rng(0)) == [0, 1, 2]


def test_identical_latents_still_give_distinct_items():
    chosen = KMeans(3).select(_pool(np.ones((6, 4))), 3, np.random.default_rng(0))
    assert len(set(chosen)) == 3


def test_kmeans_is_reproducible_and_reports_inertia():
    points = np.random.default_rng(2).normal(size=(20, 5))
    (c1, i1), (c2, i2) = (kmeans(points, 4, np.random.default_rng(3)) for _ in range(2))
    assert (c1 == c2).all() and i1 == i2
    nearest = ((points[:, None] - c1[None]) ** 2).sum(-1).min(1).sum()
    assert i1 == nearest


def test_through_a_replay_plugin():
    snapshots = run_stream(KMeans(3, seed=0), clustered_sessions(sessions=3, per_session=5))
    assert [len(s) for s in snapshots] == [3, 3, 3]
    assert sorted(set(buffer_sessions(snapshots[-1]))) == [0, 1, 2]  # clusters are sessions here
