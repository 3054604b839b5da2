"""The networks' definitions: shapes, the modulated convolution, determinism, the distances' basics."""

import pytest
import torch
import torch.nn.functional as F

from facebench.models import Encoder, Generator, IdentityNet, PerceptualDistance
from facebench.models.generator import ModulatedConv, channels_for


def test_modulated_conv_equals_the_fused_grouped_form():
    torch.manual_seed(0)
    conv = ModulatedConv(w_dim=8, in_ch=5, out_ch=7)
    x, w = torch.randn(3, 5, 6, 6), torch.randn(3, 8)
    s = conv.affine(w)
    weight = conv.weight[None] * s[:, None, :, None, None]                    # (B, O, I, k, k)
    weight = weight * torch.rsqrt(weight.square().sum(dim=(2, 3, 4), keepdim=True) + 1e-8)
    y = F.conv2d(x.reshape(1, -1, 6, 6), weight.reshape(-1, 5, 3, 3), padding=1, groups=3).reshape(3, 7, 6, 6)
    expected = F.leaky_relu(y + conv.bias[None, :, None, None], 0.2) * 2**0.5
    torch.testing.assert_close(conv(x, w), expected, rtol=1e-4, atol=1e-5)


def test_generator_maps_z_and_w_to_images_deterministically():
    torch.manual_seed(0)
    g = Generator(resolution=32).eval()
    z = torch.randn(4, 128)
    images = g(z)
    assert images.shape == (4, 3, 32, 32)
    torch.testing.assert_close(images, g.synthesis(g.mapping(z)), rtol=0, atol=0)
    torch.testing.assert_close(g.synthesis(g.mapping(z)[:2]), images[:2], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("resolution", [4, 48, 100])
def test_generator_rejects_a_resolution_that_is_not_a_power_of_two(resolution):
    with pytest.raises(ValueError, match=str(resolution)):
        Generator(resolution=resolution)


def test_channel_table_extends_to_higher_resolutions():
    assert channels_for(128) == {4: 128, 8: 64, 16: 32, 32: 16, 64: 8, 128: 8}


def test_encoder_maps_images_to_w_and_checks_their_size():
    e = Encoder(resolution=32)
    assert e(torch.rand(2, 3, 32, 32)).shape == (2, 128)
    with pytest.raises(ValueError, match="32px"):
        e(torch.rand(2, 3, 64, 64))


def test_perceptual_distance_is_zero_for_identical_images_and_one_value_per_pair():
    torch.manual_seed(0)
    p = PerceptualDistance(n_outputs=3).eval()
    x, y = torch.rand(5, 3, 32, 32), torch.rand(5, 3, 32, 32)
    assert torch.all(p(x, x) == 0)
    d = p(x, y)
    assert d.shape == (5,) and torch.all(d > 0) and torch.all(d <= 16)
    torch.testing.assert_close(d, p(y, x))


def test_identity_embeddings_are_unit_vectors_at_any_input_size():
    torch.manual_seed(0)
    net = IdentityNet().eval()
    for size in (48, 64, 96):
        e = net(torch.rand(3, 3, size, size))
        assert e.shape == (3, 128)
        torch.testing.assert_close(e.norm(dim=1), torch.ones(3))
