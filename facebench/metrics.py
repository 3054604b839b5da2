"""Pure score functions: the protocol's summaries of a score matrix, and per-image scores.

Score matrices: a[t][k] is the score of the model after training on session t, evaluated on
session k; a T x T array with NaN where k > t (not evaluated). The joint upper bound has one
model scored on every session: a 1 x T array. The summaries follow PAPER.md.

Per-image scores take torch tensors (images: float (N, 3, H, W) in [0, 1]); the feature-set
scores take numpy arrays or torch tensors (samples x features). None keeps state.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def _matrix(matrix) -> np.ndarray:
    a = np.asarray(matrix, dtype=np.float64)
    if a.ndim != 2 or (a.shape[0] != 1 and a.shape[0] != a.shape[1]) or a.shape[1] == 0:
        raise ValueError(f"expected a T x T or 1 x T score matrix, got shape {a.shape}")
    return a


def aip(matrix, higher_is_better: bool | None = None) -> float:
    """Average incremental performance.

        AIP = (1/T) * sum_{t=0}^{T-1} (1/(t+1)) * sum_{k=0}^{t} a[t][k]

    For a 1 x T matrix (the joint upper bound): AIP = (1/T) * sum_k a[0][k].
    In the units of the score; its direction is the score's. ``higher_is_better`` is accepted
    for a call signature uniform with ``forgetting`` and ``bwt``; AIP does not depend on it.
    """
    a = _matrix(matrix)
    if a.shape[0] == 1:
        return float(a[0].mean())
    return float(np.mean([a[t, : t + 1].mean() for t in range(a.shape[0])]))


def forgetting(matrix, higher_is_better: bool) -> float:
    """Average forgetting; lower is better for every score.

        f_j = max_{l in [j, T-2]} (a[l][j] - a[T-1][j])     if higher is better
        f_j = max_{l in [j, T-2]} (a[T-1][j] - a[l][j])     if lower is better
        Forgetting = (1/(T-1)) * sum_{j=0}^{T-2} f_j

    In the units of the score. NaN for a 1 x T matrix (one model: nothing to forget) and for T = 1.
    """
    a = _matrix(matrix)
    t_last = a.shape[0] - 1
    if a.shape[0] == 1:
        return float("nan")
    sign = 1.0 if higher_is_better else -1.0
    drops = [np.max(sign * (a[j:t_last, j] - a[t_last, j])) for j in range(t_last)]
    return float(np.mean(drops))


def final_average(matrix) -> float:
    """Mean score of the final model over all sessions: (1/T) * sum_k a[T-1][k] (the last row)."""
    a = _matrix(matrix)
    return float(a[-1].mean())


def bwt(matrix, higher_is_better: bool) -> float:
    """Backward transfer (Lopez-Paz & Ranzato 2017), signed so that positive is good for every score.

        BWT = (1/(T-1)) * sum_{j=0}^{T-2} (a[T-1][j] - a[j][j])     if higher is better
        BWT = (1/(T-1)) * sum_{j=0}^{T-2} (a[j][j] - a[T-1][j])     if lower is better

    Negative BWT is forgetting. In the units of the score. NaN for a 1 x T matrix and for T = 1.
    """
    a = _matrix(matrix)
    t_last = a.shape[0] - 1
    if a.shape[0] == 1:
        return float("nan")
    sign = 1.0 if higher_is_better else -1.0
    return float(np.mean([sign * (a[t_last, j] - a[j, j]) for j in range(t_last)]))


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, in dB, higher is better.

        PSNR = 10 * log10(1 / MSE),  MSE = mean over channels and pixels of (x - y)^2

    The peak is 1 (images in [0, 1]); one value per image, nothing averaged over the batch;
    computed in float64. At MSE = 0 (identical images) PSNR is +inf: there is no clamp to a
    maximum. Example: every pixel off by 0.1 gives MSE 0.01, so 20 dB. The protocol's
    ``recon_psnr`` and the pretraining figures both use this function.

    :param x, y: float tensors (N, 3, H, W) with values in [0, 1].
    :returns: float32 tensor (N,).
    """
    mse = (x.double() - y.double()).square().flatten(1).mean(1)
    return (10.0 * torch.log10(1.0 / mse)).float()


_SSIM_WINDOW, _SSIM_SIGMA, _SSIM_K1, _SSIM_K2 = 11, 1.5, 0.01, 0.03


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Structural similarity per image (Wang et al. 2004), higher is better, 1 for identical images.

    Gaussian window 11 x 11, sigma 1.5; C1 = (0.01 L)^2, C2 = (0.03 L)^2 with L = 1; local
    statistics with the window's weights (population variances), over windows that lie
    entirely inside the image (no padding); the SSIM map is averaged over pixels and over the
    three channels, each channel on its own. Equal to scikit-image's ``structural_similarity``
    with gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1.

    :param x, y: float tensors (N, 3, H, W) with values in [0, 1], H and W at least 11.
    :returns: float tensor (N,).
    """
    if min(x.shape[-2:]) < _SSIM_WINDOW:
        raise ValueError(f"SSIM needs images of at least {_SSIM_WINDOW} x {_SSIM_WINDOW} pixels, "
                         f"got {tuple(x.shape[-2:])}")
    x, y = x.double(), y.double()
    channels = x.shape[1]
    r = torch.arange(_SSIM_WINDOW, dtype=torch.float64) - _SSIM_WINDOW // 2
    g = torch.exp(-(r**2) / (2 * _SSIM_SIGMA**2))
    g = g / g.sum()
    window = (g[:, None] * g[None, :]).expand(channels, 1, -1, -1)

    def local_mean(z):
        return F.conv2d(z, window, groups=channels)

    mx, my = local_mean(x), local_mean(y)
    vx = local_mean(x * x) - mx * mx
    vy = local_mean(y * y) - my * my
    cxy = local_mean(x * y) - mx * my
    c1, c2 = _SSIM_K1**2, _SSIM_K2**2
    smap = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return smap.flatten(1).mean(1).float()


def frechet_distance(feats_a, feats_b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID's formula), lower is better.

        FD = |mu_a - mu_b|^2 + Tr(S_a) + Tr(S_b) - 2 Tr((S_a^{1/2} S_b S_a^{1/2})^{1/2})

    mu, S: the mean and the unbiased (n - 1) covariance of each set. In squared feature units.
    The trace of the matrix square root is computed from eigenvalues of symmetric PSD
    matrices, so it is real and needs no regularising epsilon; eigenvalues under the round-off
    level (numpy's rank tolerance: largest eigenvalue x d x machine epsilon) count as 0, since
    their square roots would otherwise add noise of order sqrt(epsilon).

    Fewer samples than dimensions (n <= d, e.g. 20 samples of 128-d identity features): the
    fitted covariances are singular (rank <= n - 1). The formula stays exact for these
    degenerate Gaussians (it is the squared 2-Wasserstein distance between them), nothing is
    added to the diagonal; but the statistic is then strongly biased by n, so compare
    distances only at equal sample counts.

    :param feats_a, feats_b: numpy arrays or torch tensors (n_a, d) and (n_b, d), n >= 2 each.
    :returns: float.
    """
    a, b = (np.asarray(torch.as_tensor(f).detach().cpu().double()) for f in (feats_a, feats_b))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected two (n, d) feature sets of equal d, got {a.shape} and {b.shape}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"a Fréchet distance needs at least 2 samples per set, got {len(a)} and {len(b)}")
    mu_a, mu_b = a.mean(0), b.mean(0)
    s_a, s_b = np.cov(a, rowvar=False, ddof=1), np.cov(b, rowvar=False, ddof=1)
    s_a, s_b = np.atleast_2d(s_a), np.atleast_2d(s_b)
    evals, evecs = np.linalg.eigh(s_a)
    root_a = (evecs * np.sqrt(_nonzero_part(evals))) @ evecs.T
    middle = root_a @ s_b @ root_a
    trace_root = np.sqrt(_nonzero_part(np.linalg.eigvalsh((middle + middle.T) / 2))).sum()
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(s_a) + np.trace(s_b) - 2.0 * trace_root)


def kernel_inception_distance(feats_a, feats_b) -> float:
    """Kernel distance (KID's statistic, Bińkowski et al. 2018) between two feature sets, lower is
    better: the unbiased estimate of the squared maximum mean discrepancy with the cubic
    polynomial kernel k(x, y) = (x . y / d + 1)^3 (d: the feature dimension),

        KID = 1/(m(m-1)) sum_{i != j} k(a_i, a_j) + 1/(n(n-1)) sum_{i != j} k(b_i, b_j)
              - 2/(m n) sum_{i, j} k(a_i, b_j)

    over all samples at once (no subsets). Unbiased: its expectation is 0 when both sets come from
    one distribution, so it can be slightly negative, and unlike the Fréchet distance its mean
    does not depend on the sample counts. In the kernel's units (squared feature units, cubed
    kernel). Computed in float64.

    :param feats_a, feats_b: numpy arrays or torch tensors (m, d) and (n, d), m, n >= 2.
    :returns: float.
    """
    a, b = (torch.as_tensor(f).detach().cpu().double() for f in (feats_a, feats_b))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"expected two (n, d) feature sets of equal d, got {tuple(a.shape)} and {tuple(b.shape)}")
    m, n = len(a), len(b)
    if m < 2 or n < 2:
        raise ValueError(f"a kernel distance needs at least 2 samples per set, got {m} and {n}")
    d = a.shape[1]

    def kernel(x, y):
        return (x @ y.T / d + 1.0) ** 3

    k_aa, k_bb = kernel(a, a), kernel(b, b)
    within_a = (k_aa.sum() - k_aa.diagonal().sum()) / (m * (m - 1))
    within_b = (k_bb.sum() - k_bb.diagonal().sum()) / (n * (n - 1))
    return float(within_a + within_b - 2.0 * kernel(a, b).mean())


def _nonzero_part(evals: np.ndarray) -> np.ndarray:
    """Eigenvalues of a PSD matrix with those under the round-off level (numpy's rank tolerance) set to 0."""
    return np.where(evals > evals.max(initial=0.0) * len(evals) * np.finfo(np.float64).eps, evals, 0.0)


def best_match_similarity(emb_samples, emb_refs) -> float:
    """Mean over samples of the best cosine similarity to any reference, higher is better, in [-1, 1].

        ID = (1/S) * sum_s max_r cos(e_s, f_r)

    :param emb_samples, emb_refs: numpy arrays or torch tensors (S, E) and (R, E), any norm.
    :returns: float.
    """
    s = F.normalize(torch.as_tensor(emb_samples).detach().cpu().double(), dim=1)
    r = F.normalize(torch.as_tensor(emb_refs).detach().cpu().double(), dim=1)
    return float((s @ r.T).max(1).values.mean())
