"""Rendering speed: images per second at 64 px (run with --benchmark-enable to time it)."""

import numpy as np

from facebench.data.faceworld import FaceWorld, Population

N = 256


def test_render_session_frames_64px(benchmark):
    world = FaceWorld(0)
    images, _ = benchmark(world.render, 0, 0, range(N), 64)
    assert images.shape == (N, 3, 64, 64)
    if benchmark.stats:
        benchmark.extra_info["images_per_second"] = N / benchmark.stats.stats.mean


def test_render_population_64px(benchmark):
    pop = Population(0)
    ids = np.arange(N)
    images, _ = benchmark(pop.render, ids % 64, ids % 8, ids, 64)
    assert images.shape == (N, 3, 64, 64)
    if benchmark.stats:
        benchmark.extra_info["images_per_second"] = N / benchmark.stats.stats.mean
