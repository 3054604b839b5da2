"""dlib's face descriptor as an identity network (the ArcFace role), for real photographs.

What it computes, for each image of a batch (an FFHQ-aligned face, as ``facebench data import``
writes them and as a generator trained on FFHQ draws them):

1. the chip dlib's recogniser was trained on: the 150 x 150 px square that dlib's
   ``get_face_chip_details(shape, 150, padding=0.25)`` cuts around dlib's mean face shape, taken
   where the FFHQ alignment puts that mean face (the similarity transform that maps the mean
   face's eye centres and mouth centre, placed the FFHQ way, to where dlib's chip puts them);
   one fixed square for every image, whatever it shows, so a generated face and a photo are
   compared on the same region; the image is read at 8 bits per channel first;
2. dlib's ResNet (``dlib_face_recognition_resnet_model_v1``, Davis King: a 29-layer ResNet
   trained with a metric loss on about 3 million faces; 99.38% on LFW), a 128-d descriptor;
3. the descriptor divided by its length (the raw ones are about 1.4 long).

So identity similarity = cosine similarity = dot product of the embeddings, in [-1, 1], higher =
more alike, the contract of :class:`facebench.models.identity.IdentityNet`. dlib's own rule of
thumb, on raw descriptors (:meth:`DlibIdentity.descriptors`): a Euclidean distance below 0.6 is
the same person.

Evaluation only: dlib runs outside torch, so no gradient flows through it; it has no weights
in torch either (``to(device)`` moves nothing; embeddings come back on the images' device). It
needs the ``photos`` extra; nothing is downloaded.
"""

from __future__ import annotations

import hashlib
from functools import cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from facebench.data.photos.align import feature_square
from facebench.data.photos.dlib_models import DESCRIPTOR_FILE, descriptor_network, dlib, model_file

NAME = "dlib-resnet-v1"
"""The backend's name, for result files and boards."""
CHIP_SIZE, CHIP_PADDING = 150, 0.25
"""dlib's chip: its side in pixels and the padding around the mean face (as a fraction of it)."""
MEAN_FEATURES = np.array([[0.2254918, 0.2159903], [0.7547613, 0.2159903], [0.4901265, 0.780233]])
"""dlib's mean face shape (``get_face_chip_details`` in dlib/image_transforms/interpolation.h,
Boost Software License): the centres of its eyes (means of points 36-41 and 42-47) and of its
mouth (points 48 and 54), in the unit square it is drawn in."""


class DlibIdentity(nn.Module):
    """images (N, 3, H, W) in [0, 1], FFHQ-aligned -> (N, 128) unit embeddings (module doc)."""

    def __init__(self):
        super().__init__()
        self.network = descriptor_network()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        raw = torch.from_numpy(self.descriptors(images)).to(device=images.device, dtype=torch.float32)
        return F.normalize(raw, dim=1)

    def descriptors(self, images: torch.Tensor) -> np.ndarray:
        """dlib's raw descriptors (N, 128) of ``images`` (float64)."""
        pixels = (images.detach().clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
        chips = [dlib().extract_image_chip(np.ascontiguousarray(image), chip_details(*image.shape[:2]))
                 for image in pixels]
        vectors = self.network.compute_face_descriptor(chips) if chips else []
        return np.array([list(vector) for vector in vectors], dtype=np.float64).reshape(len(chips), 128)


def chip_details(height: int, width: int):
    """dlib's ``chip_details`` of the chip in an FFHQ-aligned image of ``height`` x ``width`` px."""
    module = dlib()
    square = feature_square(*MEAN_FEATURES)
    in_image = square.fractions(MEAN_FEATURES) * [width, height] - 0.5
    in_chip = (MEAN_FEATURES + CHIP_PADDING) / (1 + 2 * CHIP_PADDING) * CHIP_SIZE
    return module.chip_details(
        module.dpoints([module.dpoint(*point) for point in in_chip]),
        module.dpoints([module.dpoint(*point) for point in in_image]),
        module.chip_dims(CHIP_SIZE, CHIP_SIZE),
    )


@cache
def model_sha256() -> str:
    """The sha256 of dlib's descriptor model file (what a result's provenance records)."""
    return hashlib.sha256(model_file(DESCRIPTOR_FILE).read_bytes()).hexdigest()
