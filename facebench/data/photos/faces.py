"""The faces in a photo: dlib's frontal detector proposes, dlib's CNN detector confirms, then the
68 landmarks of each face.

Proposals: dlib's frontal face detector (HOG features, a linear SVM) at its own threshold (score
>= 0), run on a copy of the photo scaled down (never up) so that its longer side is at most
:data:`DETECT_SIDE` px and upsampled once by dlib: it finds frontal faces down to about 40 px
across in that copy, fast, and also patterns that are no face (on the astronaut photo the
tests use, a badge on her suit scores up to 0.56 at some rotations, while her face scores down
to 0.40 at others: no threshold on the score tells them apart).

Confirmation: a proposal is a face when dlib's CNN face detector (MMOD, from the same package of
models; too slow for whole photos, seconds each, but a tenth of a second on a small crop) finds
a face centred inside the proposal's box, in a crop of the photo: the square :data:`CONTEXT` times
the box's side centred on it, resized to :data:`CONFIRM_SIDE` px.

A face's landmarks are found in the full photo.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from facebench.data.photos.dlib_models import cnn_detector, dlib, frontal_detector, landmark_predictor

DETECT_SIDE = 1024
"""The longest side, in pixels, of the copy the frontal detector runs on."""
UPSAMPLE = 1
"""How often dlib doubles the detection copy before searching it (each doubling halves the
smallest face found, about 80 px, and quadruples the time)."""
CONTEXT = 1.5
"""The side of the crop a proposal is confirmed in, as a multiple of the proposal box's side."""
CONFIRM_SIDE = 144
"""The side, in pixels, the crop is resized to: the proposed face becomes 96 px, above the CNN's
smallest face (about 80 px)."""


@dataclass(frozen=True)
class Proposal:
    """A frontal-detector detection: its ``box`` (left, top, right, bottom) in the photo's pixel
    coordinates, its ``score`` and the CNN's ``confidence`` in it (None: no face there)."""

    box: tuple[int, int, int, int]
    score: float
    confidence: float | None


def load_models() -> None:
    """Load the three models a search uses (a missing photos extra is an error here)."""
    frontal_detector()
    cnn_detector()
    landmark_predictor()


def propose(photo: Image.Image) -> list[Proposal]:
    """The frontal detector's proposals in ``photo`` (RGB), each confirmed or not, best first."""
    scale = min(1.0, DETECT_SIDE / max(photo.size))
    copy = photo
    if scale < 1:
        size = tuple(max(1, round(length * scale)) for length in photo.size)
        copy = photo.resize(size, Image.Resampling.LANCZOS)
    boxes, scores, _ = frontal_detector().run(np.asarray(copy), UPSAMPLE, 0.0)
    proposals = []
    for box, score in zip(boxes, scores):
        sides = (box.left(), box.top(), box.right(), box.bottom())
        box = tuple(round(side / scale) for side in sides)
        proposals.append(Proposal(box, float(score), _confidence(photo, box)))
    return sorted(proposals, key=lambda proposal: -proposal.score)


def _confidence(photo: Image.Image, box: tuple[int, int, int, int]) -> float | None:
    """The CNN's confidence in a face centred inside ``box`` of ``photo``; None if it sees none."""
    left, top, right, bottom = box
    half = CONTEXT * max(right - left, bottom - top) / 2
    centre_x, centre_y = (left + right) / 2, (top + bottom) / 2
    crop = photo.crop((round(centre_x - half), round(centre_y - half), round(centre_x + half), round(centre_y + half)))
    scale = CONFIRM_SIDE / crop.width
    crop = crop.resize((CONFIRM_SIDE, CONFIRM_SIDE), Image.Resampling.BILINEAR)
    inside = [
        found.confidence for found in cnn_detector()(np.asarray(crop), 0)
        if abs(found.rect.center().x - CONFIRM_SIDE / 2) <= (right - left) * scale / 2
        and abs(found.rect.center().y - CONFIRM_SIDE / 2) <= (bottom - top) * scale / 2
    ]
    return max(inside, default=None)


def landmarks(photo: Image.Image, box: tuple[int, int, int, int]) -> np.ndarray:
    """The 68 landmarks ((68, 2), the photo's pixel coordinates) of the face in ``box``."""
    shape = landmark_predictor()(np.asarray(photo), dlib().rectangle(*box))
    return np.array([(point.x, point.y) for point in shape.parts()], dtype=np.float64)
