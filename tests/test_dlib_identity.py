"""The dlib identity backend: FFHQ-aligned faces -> unit 128-d embeddings of dlib's face descriptor.

The faces are scikit-image's bundled astronaut photo (Eileen Collins, NASA: public domain),
rotated, cropped and rescaled, each aligned the way ``facebench data import`` aligns photos.
"""

import importlib.util

import numpy as np
import pytest
import torch
from PIL import Image

dlib = pytest.importorskip("dlib", reason="needs the photos extra: pip install 'facebench[photos]'")
skimage_data = pytest.importorskip("skimage.data", reason="the test photos come from scikit-image")
if importlib.util.find_spec("face_recognition_models") is None:
    pytest.skip("needs the photos extra: pip install 'facebench[photos]'", allow_module_level=True)

from facebench.data.photos.align import align, ffhq_square  # noqa: E402
from facebench.data.photos.dlib_models import descriptor_network, landmark_predictor  # noqa: E402
from facebench.data.photos.faces import landmarks, propose  # noqa: E402
from facebench.models.dlib_identity import NAME, DlibIdentity, model_sha256  # noqa: E402

R = 256
PHOTO = Image.fromarray(skimage_data.astronaut())
SAME_PERSON = 0.6
"""dlib's rule of thumb: raw descriptors closer than this are the same person."""


def box(photo: Image.Image) -> tuple[int, int, int, int]:
    (face,) = [proposal for proposal in propose(photo) if proposal.confidence is not None]
    return face.box


def tensor(image: Image.Image) -> torch.Tensor:
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255).permute(2, 0, 1)


@pytest.fixture(scope="module")
def faces() -> torch.Tensor:
    """Her face aligned at R px from three photos: the original, rotated 8 degrees, 1.7x larger."""
    copies = [PHOTO, PHOTO.rotate(8, Image.Resampling.BICUBIC, center=(220, 130)),
              PHOTO.resize((870, 870), Image.Resampling.LANCZOS)]
    return torch.stack([tensor(align(copy, ffhq_square(landmarks(copy, box(copy))), R)) for copy in copies])


@pytest.fixture(scope="module")
def identity() -> DlibIdentity:
    return DlibIdentity()


def test_embeddings_are_unit_128d_float32_on_the_images_device_without_gradients(identity, faces):
    embeddings = identity(faces.clone().requires_grad_(True))
    assert embeddings.shape == (3, 128) and embeddings.dtype == torch.float32
    assert embeddings.device == faces.device and not embeddings.requires_grad
    assert torch.allclose(embeddings.norm(dim=1), torch.ones(3), atol=1e-5)


def test_the_same_person_in_different_photos_is_within_dlibs_threshold(identity, faces):
    raw = identity.descriptors(faces)
    distances = np.linalg.norm(raw[:, None] - raw[None], axis=2)
    assert distances.max() < SAME_PERSON / 2
    embeddings = identity(faces)
    assert (embeddings @ embeddings.T).min() > 0.97


def test_a_blank_image_is_not_her(identity, faces):
    raw = identity.descriptors(torch.cat([faces, torch.full((1, 3, R, R), 0.5)]))
    assert np.linalg.norm(raw[:3] - raw[3], axis=1).min() > SAME_PERSON


def test_batching_and_order_change_nothing(identity, faces):
    together = identity(faces)
    one_by_one = torch.cat([identity(faces[i : i + 1]) for i in range(len(faces))])
    assert torch.allclose(together, one_by_one, atol=1e-6)
    assert torch.allclose(identity(faces.flip(0)), together.flip(0), atol=1e-6)
    assert identity(faces[:0]).shape == (0, 128)


def test_the_fixed_chip_describes_her_as_dlibs_own_alignment_does(identity, faces):
    """dlib's own way (landmarks on the photo, get_face_chip at 150 px with padding 0.25) and
    the fixed chip of the aligned image give nearly the same descriptor."""
    pixels = np.asarray(PHOTO)
    shape = landmark_predictor()(pixels, dlib.rectangle(*box(PHOTO)))
    own = np.array(descriptor_network().compute_face_descriptor(dlib.get_face_chip(pixels, shape, 150, 0.25)))
    assert np.linalg.norm(identity.descriptors(faces[:1])[0] - own) < SAME_PERSON / 2


def test_the_backend_names_its_shipped_model():
    assert NAME == "dlib-resnet-v1"
    assert model_sha256() == "55533b28a95800a551ba546ba62fe69625c7e95a7061c338adffead08719da30"
