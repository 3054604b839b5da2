"""Signed-distance primitives and anti-aliased coverage, batched with torch.

All functions take coordinate tensors broadcastable to (N, H, W) and shape parameters
broadcastable to (N, 1, 1). A signed distance is negative inside the shape, in the same
units as the coordinates. ``coverage`` turns it into an anti-aliased alpha: the fraction of
a pixel of width ``pixel`` covered by the shape, ``clamp(0.5 - sd / pixel, 0, 1)``.
"""

from __future__ import annotations

import torch


def coverage(sd: torch.Tensor, pixel: torch.Tensor | float) -> torch.Tensor:
    """Anti-aliased alpha in [0, 1] of a shape with signed distance ``sd``."""
    return (0.5 - sd / pixel).clamp_(0.0, 1.0)


def soft(sd: torch.Tensor, width: torch.Tensor | float) -> torch.Tensor:
    """A soft mask: 1 inside, falling off as exp(-(d / width)^2) outside (make-up, shading)."""
    outside = sd.clamp(min=0.0) / width
    return torch.exp(-outside * outside)


def ellipse(x, y, cx, cy, rx, ry) -> torch.Tensor:
    """Approximate signed distance to the ellipse centred (cx, cy) with radii (rx, ry).

    Uses the first-order estimate e = k0 (k0 - 1) / k1 with k0 = |p / r|, k1 = |p / r^2|,
    exact on circles and accurate near the boundary of a round ellipse, and bounds it below by the
    distance to the bounding box's slabs, which the true distance never falls under:
        sd = max(e, |x - cx| - rx, |y - cy| - ry).
    The bound matters for thin ellipses (a closing eye: ry -> 0), where e alone tends to |y - cy|
    everywhere, an infinitely long line across the image.
    """
    dx, dy = x - cx, y - cy
    px, py = dx / rx, dy / ry
    k0 = torch.sqrt(px * px + py * py)
    k1 = torch.sqrt((px / rx) ** 2 + (py / ry) ** 2) + 1e-9
    return torch.maximum(k0 * (k0 - 1.0) / k1, torch.maximum(dx.abs() - rx, dy.abs() - ry))


def circle(x, y, cx, cy, r) -> torch.Tensor:
    """Exact signed distance to the circle centred (cx, cy) with radius r."""
    return torch.sqrt((x - cx) ** 2 + (y - cy) ** 2) - r


def segment(x, y, ax, ay, bx, by, r) -> torch.Tensor:
    """Exact signed distance to the capsule of radius r around the segment a-b."""
    pax, pay = x - ax, y - ay
    bax, bay = bx - ax, by - ay
    h = ((pax * bax + pay * bay) / (bax * bax + bay * bay + 1e-12)).clamp(0.0, 1.0)
    dx, dy = pax - bax * h, pay - bay * h
    return torch.sqrt(dx * dx + dy * dy) - r


def box(x, y, cx, cy, hx, hy, radius) -> torch.Tensor:
    """Exact signed distance to the rounded box centred (cx, cy), half sizes (hx, hy)."""
    qx = (x - cx).abs() - hx + radius
    qy = (y - cy).abs() - hy + radius
    outside = torch.sqrt(qx.clamp(min=0) ** 2 + qy.clamp(min=0) ** 2)
    return outside + torch.minimum(torch.maximum(qx, qy), torch.zeros_like(qx)) - radius


def rotate(x, y, cx, cy, angle):
    """Coordinates (x, y) expressed in a frame rotated by ``angle`` (radians) about (cx, cy)."""
    c, s = torch.cos(angle), torch.sin(angle)
    dx, dy = x - cx, y - cy
    return cx + c * dx + s * dy, cy - s * dx + c * dy
