"""FFHQ alignment: a face's 68 landmarks -> the oriented square FFHQ crops -> an R x R image.

The procedure of the FFHQ data set (Karras et al. 2019, ``recreate_aligned_images`` in NVIDIA's
ffhq-dataset), written anew here. Coordinates are a photo's pixel indices: x to the right, y
down, pixel (column i, row j) centred at (i, j); landmarks are the iBUG 68 points.

The square (:func:`ffhq_square`), from the eye centres (means of points 36-41 and 42-47), the
mouth centre (the mean of the mouth corners, points 48 and 54), ``e`` = right eye - left eye
(the eye on the image's right minus the one on its left) and ``m`` = mouth centre - eye midpoint:

- its centre is eye midpoint + 0.1 m;
- its x axis is along e + (m_y, -m_x) (m turned a quarter turn, so that for an upright face it
  points the same way as e): the face is levelled by the eyes and the eye-mouth line together;
- its half side is max(2 |e|, 1.8 |m|): the side is 4 eye distances or 3.6 eye-mouth distances,
  whichever is larger.

The image (:func:`align`): where the square is at least 4x the output side, the photo is first
shrunk by the integer factor floor(side / R / 2) (Lanczos); it is cropped to the square's bounding
box with a border of 10% of the side (at least 3 px); where the square comes within 4 px of the
photo's edge or passes it (and always for a square under 35 px), the photo is padded on every
side, by at least 30% of the side and as far as the square and its border pass the edge, by
reflection, the padding blurred (Gaussian, sigma 2% of the side) and faded towards the photo's
median colour the further it lies from the photo; the square is then sampled bilinearly onto
4R x 4R and resized to R x R with a Lanczos filter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter

SUPERSAMPLING = 4
"""The square is sampled on SUPERSAMPLING x R pixels before the Lanczos resize to R (FFHQ: 4096
for 1024)."""


@dataclass(frozen=True)
class Square:
    """An oriented square in a photo: ``centre``, half-axes ``x`` (towards the aligned image's
    right) and ``y`` (towards its bottom), each of length side / 2, in pixel coordinates."""

    centre: np.ndarray
    x: np.ndarray
    y: np.ndarray

    @property
    def side(self) -> float:
        return 2 * float(np.hypot(*self.x))

    @property
    def corners(self) -> np.ndarray:
        """(4, 2): top-left, bottom-left, bottom-right, top-right (PIL's QUAD order)."""
        c, x, y = self.centre, self.x, self.y
        return np.stack([c - x - y, c - x + y, c + x + y, c + x - y])

    def fractions(self, points: np.ndarray) -> np.ndarray:
        """Where ``points`` (N, 2) of the photo lie in the aligned image, as fractions of its side
        from its top-left corner (0: the left/top edge, 1: the right/bottom edge)."""
        offset = np.asarray(points, dtype=np.float64) - (self.centre - self.x - self.y)
        return np.stack([offset @ self.x, offset @ self.y], axis=1) / (self.side**2 / 2)

    def to_aligned(self, points: np.ndarray, resolution: int) -> np.ndarray:
        """``points`` (N, 2) of the photo in the pixel coordinates of the aligned R x R image."""
        return self.fractions(points) * resolution - 0.5


def ffhq_square(landmarks: np.ndarray) -> Square:
    """The square FFHQ crops around a face with these 68 landmarks ((68, 2), module doc)."""
    points = np.asarray(landmarks, dtype=np.float64)
    return feature_square(points[36:42].mean(axis=0), points[42:48].mean(axis=0), (points[48] + points[54]) / 2)


def feature_square(eye_left: np.ndarray, eye_right: np.ndarray, mouth: np.ndarray) -> Square:
    """The square FFHQ crops around a face whose eye centres and mouth centre are these (module
    doc; ``eye_left``: the eye on the image's left)."""
    eye_mid = (eye_left + eye_right) / 2
    eyes = eye_right - eye_left
    mouth = mouth - eye_mid
    x = eyes + np.array([mouth[1], -mouth[0]])
    x *= max(2.0 * np.hypot(*eyes), 1.8 * np.hypot(*mouth)) / np.hypot(*x)
    return Square(centre=eye_mid + 0.1 * mouth, x=x, y=np.array([-x[1], x[0]]))


def align(photo: Image.Image, square: Square, resolution: int) -> Image.Image:
    """The R x R RGB image of ``square`` in ``photo`` (an RGB image), FFHQ's way (module doc)."""
    corners, side = square.corners, square.side
    shrink = int(np.floor(side / resolution / 2))
    if shrink > 1:
        size = tuple(int(np.rint(length / shrink)) for length in photo.size)
        photo = photo.resize(size, Image.Resampling.LANCZOS)
        corners, side = corners / shrink, side / shrink
    border = max(int(np.rint(0.1 * side)), 3)
    low, high = np.floor(corners.min(axis=0)).astype(int), np.ceil(corners.max(axis=0)).astype(int)
    box = (*np.maximum(low - border, 0), *np.minimum(high + border, photo.size))
    if box[2] - box[0] < photo.width or box[3] - box[1] < photo.height:
        photo = photo.crop(box)
        corners = corners - box[:2]
    outside = np.maximum(np.concatenate([border - low + box[:2], high - box[:2] + border - photo.size]), 0)
    if outside.max() > border - 4:
        photo, origin = _padded(photo, np.maximum(outside, int(np.rint(0.3 * side))), side)
        corners = corners + origin
    size = SUPERSAMPLING * resolution
    sampled = photo.transform(
        (size, size), Image.Transform.QUAD, (corners + 0.5).flatten(), Image.Resampling.BILINEAR
    )
    return sampled.resize((resolution, resolution), Image.Resampling.LANCZOS)


def _padded(photo: Image.Image, pad: np.ndarray, side: float) -> tuple[Image.Image, np.ndarray]:
    """``photo`` padded by ``pad`` (left, top, right, bottom; each >= 1 px) by reflection, the
    padding blurred and faded to the median colour (module doc); and where the photo's origin
    now lies."""
    left, top, right, bottom = (int(p) for p in pad)
    pixels = np.pad(np.asarray(photo, dtype=np.float32), ((top, bottom), (left, right), (0, 0)), "reflect")
    height, width, _ = pixels.shape
    rows, columns = np.ogrid[:height, :width]
    beyond_x = 1 - np.minimum(columns / left, (width - 1 - columns) / right).astype(np.float32)
    beyond_y = 1 - np.minimum(rows / top, (height - 1 - rows) / bottom).astype(np.float32)
    beyond = np.maximum(beyond_x, beyond_y)[..., None]  # 0 at the photo's edge, 1 at the padding's
    blur = 0.02 * side
    pixels += (gaussian_filter(pixels, [blur, blur, 0]) - pixels) * np.clip(3 * beyond + 1, 0, 1)
    pixels += (np.median(pixels, axis=(0, 1)) - pixels) * np.clip(beyond, 0, 1)
    image = Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")
    return image, np.array([left, top])
