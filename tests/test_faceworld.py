"""FaceWorld renderer: determinism, seed domains, factors, sizes."""

import numpy as np
import pytest
import torch

from facebench.data.faceworld import FACTOR_NAMES, IDENTITY_NAMES, FaceWorld, Population


def test_same_key_same_bytes_in_any_batch():
    world = FaceWorld(3)
    alone, _ = world.render(1, 2, [5], 64)
    in_batch, _ = world.render(1, 2, [0, 5, 9], 64)
    again, _ = FaceWorld(3).render(1, 2, [5], 64)
    assert torch.equal(alone[0], in_batch[1])
    assert torch.equal(alone, again)


def test_other_world_seed_other_persons():
    a, fa = FaceWorld(0).render(0, 0, range(4), 64)
    b, fb = FaceWorld(1).render(0, 0, range(4), 64)
    assert (a - b).abs().mean() > 0.05
    assert not np.allclose(fa.identity, fb.identity)


def test_images_are_rgb_unit_range_and_antialiased():
    images, _ = FaceWorld(0).render(0, 0, range(8), 64)
    assert images.shape == (8, 3, 64, 64) and images.dtype == torch.float32
    assert images.min() >= 0 and images.max() <= 1
    levels = torch.unique((images * 255).round()).numel()
    assert levels > 200  # smooth edges and shading, not a handful of flat colours


@pytest.mark.parametrize("size", [32, 100, 256])
def test_sizes_from_32_to_256(size):
    images, _ = FaceWorld(0).render(0, 1, [0], size)
    assert images.shape == (1, 3, size, size)


@pytest.mark.parametrize("size", [16, 31, 257, 64.0])
def test_bad_size_is_an_error(size):
    with pytest.raises(ValueError, match="32..256"):
        FaceWorld(0).render(0, 0, [0], size)


def test_identity_fixed_across_sessions_and_different_between_persons():
    world = FaceWorld(0)
    ids = [world.render(p, s, [0, 1], 32)[1].identity for p in range(3) for s in range(4)]
    ids = np.stack(ids).reshape(3, 4, 2, -1)
    assert ids.shape[-1] == len(IDENTITY_NAMES) >= 12
    assert np.ptp(ids[0], axis=(0, 1)).max() == 0  # one person: same identity everywhere
    between = np.abs(ids[:, 0, 0, None] - ids[None, :, 0, 0]).mean(-1)
    assert between[np.triu_indices(3, 1)].min() > 0.1


def test_sessions_differ_and_frames_share_their_session():
    world = FaceWorld(0)
    s0, s1 = world.session(0, 0), world.session(0, 1)
    assert s0 != s1
    _, f = world.render(0, 0, range(5), 32)
    assert np.ptp(f.values["hairstyle"]) == 0 and np.ptp(f.values["light_azimuth"]) == 0
    assert np.ptp(f.values["smile"]) > 0  # frames vary in expression


def test_population_never_reuses_benchmark_seeds():
    world, pop = FaceWorld(0), Population(0)
    _, fw = world.render(0, 0, [0], 32)
    _, fp = pop.render([0], [0], [0], 32)
    assert not np.allclose(fw.identity, fp.identity)


def test_factor_vector_layout():
    _, f = Population(0).render(np.arange(40), np.zeros(40), np.zeros(40), 32)
    v = f.vector
    assert v.shape == (40, len(FACTOR_NAMES)) and f.names == FACTOR_NAMES
    assert v.min() >= 0 and v.max() <= 1
    hair = [i for i, n in enumerate(FACTOR_NAMES) if n.startswith("hairstyle=")]
    assert len(hair) >= 5 and np.allclose(v[:, hair].sum(1), 1)
    assert set(f.categorical) >= {"hairstyle", "glasses", "facial_hair", "headwear", "background"}


def test_negative_indices_rejected():
    with pytest.raises(ValueError, match=">= 0"):
        Population(0).render([-1], [0], [0], 32)


def test_a_thin_ellipse_covers_nothing_outside_its_box():
    from facebench.data.faceworld import shapes as S

    pixel = 2 / 64
    y, x = torch.meshgrid(torch.linspace(-1, 1, 64), torch.linspace(-1, 1, 64), indexing="ij")
    for rx, ry in [(0.06, 1e-4), (1e-4, 0.06), (0.06, 0.003), (0.3, 0.2)]:
        alpha = S.coverage(S.ellipse(x, y, 0.1, -0.2, rx, ry), pixel)
        outside = ((x - 0.1).abs() > rx + pixel / 2) | ((y + 0.2).abs() > ry + pixel / 2)
        assert alpha[outside].max() == 0, (rx, ry)
        assert alpha.max() > 0 or ry < pixel / 2  # the shape is still drawn where it is


def test_shut_eyes_draw_no_line_across_the_image():
    """A shut eye is an ellipse of height -> 0: it must leave the image outside the face alone
    (before the bounded ellipse it drew a line the width of the image through the eyes)."""
    from facebench.data.faceworld.render import render

    images, factors = FaceWorld(0).render(0, 0, range(4), 64)
    noise = np.zeros((4, 3, 64, 64), dtype=np.float32)
    values = {k: np.asarray(v) for k, v in factors.values.items()}
    shut = render({**values, "blink": np.ones(4)}, noise, 64)
    opened = render({**values, "blink": np.zeros(4)}, noise, 64)
    changed = ((shut - opened).abs().amax(1) > 1e-3).any(1)  # (N, W): the columns that differ
    widths = [int(c.nonzero().max() - c.nonzero().min()) + 1 for c in changed]
    assert all(0 < w < 32 for w in widths), widths  # 64 (the whole width) before
