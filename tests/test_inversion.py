"""Public inversion: encoder start, then latent optimisation that improves on it, independently per image."""

import pytest
import torch

from facebench.data.faceworld import FaceWorld
from facebench.models import invert, load, reconstruction_loss


@pytest.fixture(scope="module")
def nets():
    return {name: load(name) for name in ("generator", "encoder", "perceptual")}


@pytest.fixture(scope="module")
def images():
    return FaceWorld(0).render(person=1, session=2, frames=range(20, 24), size=64)[0]


def _loss(nets, latents, images):
    with torch.no_grad():
        return reconstruction_loss(nets["perceptual"], nets["generator"].synthesis(latents), images)


def test_inversion_improves_on_the_encoder_start(nets, images):
    with torch.no_grad():
        start = nets["encoder"](images)
    latents, recon = invert(nets["generator"], nets["encoder"], images, steps=10, perceptual=nets["perceptual"])
    assert latents.shape == (4, 128) and recon.shape == images.shape
    assert 0 <= recon.min() and recon.max() <= 1
    assert torch.all(_loss(nets, latents, images) < _loss(nets, start, images))


def test_zero_steps_is_the_encoder_start(nets, images):
    latents, _ = invert(nets["generator"], nets["encoder"], images, steps=0, perceptual=nets["perceptual"])
    with torch.no_grad():
        torch.testing.assert_close(latents, nets["encoder"](images))


def test_each_latent_is_inverted_independently_of_its_batch(nets, images):
    together, _ = invert(nets["generator"], nets["encoder"], images, steps=5, perceptual=nets["perceptual"])
    alone, _ = invert(nets["generator"], nets["encoder"], images[:2], steps=5, perceptual=nets["perceptual"])
    torch.testing.assert_close(alone, together[:2], rtol=1e-3, atol=1e-4)


def test_inversion_is_deterministic_and_leaves_the_generator_untouched(nets, images):
    before = {k: v.clone() for k, v in nets["generator"].state_dict().items()}
    a, _ = invert(nets["generator"], nets["encoder"], images, steps=3, perceptual=nets["perceptual"])
    b, _ = invert(nets["generator"], nets["encoder"], images, steps=3, perceptual=nets["perceptual"])
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    for k, v in nets["generator"].state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)
    assert all(p.grad is None and p.requires_grad for p in nets["generator"].parameters())
