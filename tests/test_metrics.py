"""facebench.metrics: the protocol summaries on hand-computed matrices, and the per-image scores."""

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from facebench import metrics

NAN = float("nan")
# A higher-is-better score (e.g. identity similarity): a[t][k], model after t on session k.
HIGH = [[0.9, NAN, NAN],
        [0.7, 0.8, NAN],
        [0.5, 0.6, 0.9]]
# A lower-is-better score (e.g. LPIPS).
LOW = [[0.1, NAN, NAN],
       [0.3, 0.2, NAN],
       [0.4, 0.25, 0.15]]


def test_aip_worked_example():
    # (1/3) * (0.9 + (0.7 + 0.8)/2 + (0.5 + 0.6 + 0.9)/3) = (0.9 + 0.75 + 2/3) / 3
    assert metrics.aip(HIGH, True) == pytest.approx((0.9 + 0.75 + 2 / 3) / 3)
    assert metrics.aip(HIGH) == metrics.aip(HIGH, False)  # AIP does not depend on the direction


def test_forgetting_higher_is_better():
    # f_0 = max(0.9 - 0.5, 0.7 - 0.5) = 0.4 ; f_1 = 0.8 - 0.6 = 0.2 ; mean 0.3
    assert metrics.forgetting(HIGH, higher_is_better=True) == pytest.approx(0.3)


def test_forgetting_lower_is_better():
    # f_0 = max(0.4 - 0.1, 0.4 - 0.3) = 0.3 ; f_1 = 0.25 - 0.2 = 0.05 ; mean 0.175
    assert metrics.forgetting(LOW, higher_is_better=False) == pytest.approx(0.175)


def test_forgetting_can_be_negative_when_the_final_model_is_best():
    # the same matrix read as lower-is-better: f_0 = max(0.5 - 0.9, 0.5 - 0.7) = -0.2 ; f_1 = 0.6 - 0.8
    assert metrics.forgetting(HIGH, higher_is_better=False) == pytest.approx(-0.2)


def test_bwt_both_directions():
    # higher: ((0.5 - 0.9) + (0.6 - 0.8)) / 2 ; lower: ((0.1 - 0.4) + (0.2 - 0.25)) / 2
    assert metrics.bwt(HIGH, True) == pytest.approx(-0.3)
    assert metrics.bwt(LOW, False) == pytest.approx(-0.175)


def test_final_average():
    assert metrics.final_average(HIGH) == pytest.approx((0.5 + 0.6 + 0.9) / 3)


def test_joint_upper_bound_matrix():
    joint = [[0.2, 0.4, 0.9]]
    assert metrics.aip(joint, True) == pytest.approx(0.5)
    assert metrics.final_average(joint) == pytest.approx(0.5)
    assert math.isnan(metrics.forgetting(joint, True))
    assert math.isnan(metrics.bwt(joint, False))


def test_single_session():
    assert metrics.aip([[0.7]], True) == pytest.approx(0.7)
    assert math.isnan(metrics.forgetting([[0.7]], True))


def test_a_missing_evaluation_propagates():
    holed = [row[:] for row in HIGH]
    holed[2][0] = NAN
    assert math.isnan(metrics.forgetting(holed, True))


def test_bad_matrix_shape():
    with pytest.raises(ValueError, match="score matrix"):
        metrics.aip(np.zeros((2, 3)), True)


def test_psnr():
    x = torch.zeros(2, 3, 8, 8)
    y = torch.full((2, 3, 8, 8), 0.1)  # MSE 0.01 -> 20 dB
    assert metrics.psnr(x, y).tolist() == pytest.approx([20.0, 20.0], abs=1e-4)
    assert math.isinf(metrics.psnr(x, x)[0])


def test_ssim_of_constant_images():
    x = torch.full((1, 3, 16, 16), 0.2)
    y = torch.full((1, 3, 16, 16), 0.6)
    c1 = 0.01**2  # luminance term only: both variances and the covariance are 0
    assert float(metrics.ssim(x, y)[0]) == pytest.approx((2 * 0.2 * 0.6 + c1) / (0.2**2 + 0.6**2 + c1), rel=1e-5)
    assert float(metrics.ssim(x, x)[0]) == pytest.approx(1.0)


def _ssim_by_windows(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM by explicit summation over every 11 x 11 window (one channel at a time)."""
    r = np.arange(11) - 5
    g = np.exp(-(r**2) / (2 * 1.5**2))
    w = np.outer(g, g) / np.outer(g, g).sum()
    c1, c2 = 0.01**2, 0.03**2
    values = []
    for xc, yc in zip(x, y):
        for i in range(xc.shape[0] - 10):
            for j in range(xc.shape[1] - 10):
                px, py = xc[i:i + 11, j:j + 11], yc[i:i + 11, j:j + 11]
                mx, my = (w * px).sum(), (w * py).sum()
                vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
                cxy = (w * (px - mx) * (py - my)).sum()
                values.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


def test_ssim_matches_explicit_windows():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(2, 3, 14, 13, generator=g)
    y = (x + 0.2 * torch.randn(2, 3, 14, 13, generator=g)).clamp(0, 1)
    got = metrics.ssim(x, y)
    for n in range(2):
        assert float(got[n]) == pytest.approx(_ssim_by_windows(x[n].double().numpy(), y[n].double().numpy()), abs=1e-6)


def test_ssim_needs_11_pixels():
    with pytest.raises(ValueError, match="11"):
        metrics.ssim(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8))


def test_frechet_distance_one_dimensional_closed_form():
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, (50, 1)), rng.normal(2, 3, (40, 1))
    expected = (a.mean() - b.mean()) ** 2 + (a.std(ddof=1) - b.std(ddof=1)) ** 2
    assert metrics.frechet_distance(a, b) == pytest.approx(expected, rel=1e-10)


def test_frechet_distance_matches_the_sqrtm_formula_when_well_sampled():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(200, 5)), rng.normal(size=(150, 5)) @ rng.normal(size=(5, 5))
    s_a, s_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    expected = np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(s_a + s_b - 2 * scipy.linalg.sqrtm(s_a @ s_b).real)
    assert metrics.frechet_distance(torch.as_tensor(a), b) == pytest.approx(expected, rel=1e-8)


def test_frechet_distance_with_fewer_samples_than_dimensions():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(20, 64)), rng.normal(0.5, 1, size=(20, 64))
    d_ab, d_ba = metrics.frechet_distance(a, b), metrics.frechet_distance(b, a)
    assert np.isfinite(d_ab) and d_ab > 0 and d_ab == pytest.approx(d_ba, rel=1e-8)
    assert metrics.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)


def test_frechet_distance_needs_two_samples():
    with pytest.raises(ValueError, match="at least 2"):
        metrics.frechet_distance(np.zeros((1, 3)), np.zeros((5, 3)))


def test_best_match_similarity():
    samples = np.array([[1.0, 0.0], [0.0, 2.0]])
    refs = torch.tensor([[3.0, 3.0], [1.0, 0.0]])
    # sample 0 matches ref 1 exactly (1); sample 1's best is ref 0, cos 45 degrees
    assert metrics.best_match_similarity(samples, refs) == pytest.approx((1 + math.sqrt(0.5)) / 2)


def _kid_by_hand(a: np.ndarray, b: np.ndarray) -> float:
    """The unbiased MMD^2 with k(x, y) = (x . y / d + 1)^3, by a double loop over the samples."""
    d = a.shape[1]

    def k(x, y):
        return (float(np.dot(x, y)) / d + 1.0) ** 3

    m, n = len(a), len(b)
    within_a = sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    within_b = sum(k(b[i], b[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    across = sum(k(a[i], b[j]) for i in range(m) for j in range(n)) / (m * n)
    return within_a + within_b - 2.0 * across


@pytest.mark.parametrize("m, n, d", [(2, 2, 1), (5, 7, 3), (9, 4, 16)])
def test_kernel_distance_equals_the_double_loop(m, n, d):
    rng = np.random.default_rng([m, n, d])
    a, b = rng.normal(size=(m, d)), rng.normal(0.5, 1.5, size=(n, d))
    assert metrics.kernel_inception_distance(a, b) == pytest.approx(_kid_by_hand(a, b), rel=1e-10, abs=1e-12)
    # torch tensors (float32 too) are read as float64 numbers
    got = metrics.kernel_inception_distance(torch.as_tensor(a, dtype=torch.float32), torch.as_tensor(b))
    assert got == pytest.approx(_kid_by_hand(a.astype(np.float32).astype(np.float64), b), rel=1e-10, abs=1e-12)
    assert isinstance(got, float)


def test_kernel_distance_is_symmetric():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 5)), rng.normal(1.0, size=(11, 5))
    assert metrics.kernel_inception_distance(a, b) == pytest.approx(metrics.kernel_inception_distance(b, a), rel=1e-12)


def test_kernel_distance_is_near_zero_for_one_distribution_and_positive_for_shifted_ones():
    rng = np.random.default_rng(2)
    d = 8
    a, b = rng.normal(size=(2000, d)), rng.normal(size=(2000, d))
    shifted = rng.normal(0.5, 1.0, size=(2000, d))
    same = metrics.kernel_inception_distance(a, b)
    apart = metrics.kernel_inception_distance(a, shifted)
    assert apart > 0
    assert abs(same) < 0.02 * apart  # unbiased: about 0, of either sign
    assert metrics.kernel_inception_distance(a, rng.normal(1.0, 1.0, size=(2000, d))) > apart  # further: larger


def test_kernel_distance_does_not_grow_with_fewer_samples():
    """Unbiased: over many draws of small sets of one distribution its mean is about 0 (the
    Fréchet distance's grows as the sets shrink)."""
    rng = np.random.default_rng(3)
    values = [metrics.kernel_inception_distance(rng.normal(size=(10, 4)), rng.normal(size=(10, 4)))
              for _ in range(400)]
    assert abs(np.mean(values)) < 3 * np.std(values) / np.sqrt(len(values))
    assert min(values) < 0 < max(values)


@pytest.mark.parametrize("a, b, says", [
    (np.zeros((1, 3)), np.zeros((4, 3)), "at least 2 samples per set, got 1 and 4"),
    (np.zeros((4, 3)), np.zeros((1, 3)), "at least 2 samples per set, got 4 and 1"),
    (np.zeros((4, 3)), np.zeros((4, 2)), "equal d"),
    (np.zeros(4), np.zeros((4, 1)), "equal d"),
])
def test_kernel_distance_refuses_too_few_samples_or_other_dimensions(a, b, says):
    with pytest.raises(ValueError, match=says):
        metrics.kernel_inception_distance(a, b)
