"""Bring-your-own models: a card's ``models`` section, the user's files in their upstream layouts
(checked, hashed, loaded), LPIPS without downloads, a run end to end, results that name their backends.

The checkpoints are written here with random weights under the key names and shapes of the
upstream code, transcribed from it (not from facebench's modules): rosinality's
``stylegan2-pytorch/model.py`` (``Generator``), insightface's
``recognition/arcface_torch/backbones/iresnet.py`` (``IResNet``) and encoder4editing's
``models/encoders/psp_encoders.py`` + ``helpers.py`` (``Encoder4Editing`` with ``bottleneck_IR_SE``,
saved by its coach as ``{"state_dict", "latent_avg", "opts"}``). Widths are small so that the
tests are fast; the layouts are the upstream ones.
"""

import hashlib
import json
import math
import socket
import urllib.request

import pytest
import torch
import torch.nn.functional as F
import yaml

from facebench.board import load as board_load
from facebench.board.schema import validate
from facebench.cli import main
from facebench.data.cards import load_card
from facebench.models.byo import ModelFileError, lpips_distance
from facebench.models.byo.stylegan2 import ModulatedConv2d, load_stylegan2
from facebench.models.generic import GenericModels, card_backends, card_sha256s

SIZE, STYLE_DIM, N_MLP = 32, 16, 2
CHANNELS = {4: 16, 8: 16, 16: 8, 32: 8}  # rosinality's table has 512 up to 32 px; a narrow one loads the same way


def randn(*shape, seed=[0]):
    seed[0] += 1
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed[0]))


def blur_kernel():
    """rosinality's make_kernel([1, 3, 3, 1]) * factor**2 (factor 2), as Blur and Upsample register it."""
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    k = k[None, :] * k[:, None]
    return k / k.sum() * 4


def modulated(prefix, in_ch, out_ch, kernel, upsample=False):
    """ModulatedConv2d's tensors: weight (1, out, in, k, k), modulation = EqualLinear(style_dim, in, bias_init=1)."""
    out = {f"{prefix}.weight": randn(1, out_ch, in_ch, kernel, kernel),
           f"{prefix}.modulation.weight": randn(in_ch, STYLE_DIM), f"{prefix}.modulation.bias": torch.ones(in_ch)}
    if upsample:
        out[f"{prefix}.blur.kernel"] = blur_kernel()
    return out


def styled(prefix, in_ch, out_ch, upsample=False):
    """StyledConv: conv, noise = NoiseInjection (weight (1,)), activate = FusedLeakyReLU (bias (out,))."""
    return {**modulated(f"{prefix}.conv", in_ch, out_ch, 3, upsample),
            f"{prefix}.noise.weight": 0.1 * randn(1), f"{prefix}.activate.bias": 0.1 * randn(out_ch)}


def to_rgb(prefix, in_ch, upsample=True):
    """ToRGB: upsample = Upsample(blur_kernel) (buffer kernel), conv = ModulatedConv2d(in, 3, 1), bias (1, 3, 1, 1)."""
    out = {**modulated(f"{prefix}.conv", in_ch, 3, 1), f"{prefix}.bias": 0.1 * randn(1, 3, 1, 1)}
    if upsample:
        out[f"{prefix}.upsample.kernel"] = blur_kernel()
    return out


def rosinality_g_ema(size=SIZE, channels=CHANNELS):
    """The state dict of rosinality's Generator(size, STYLE_DIM, N_MLP) with the channel table ``channels``."""
    state = {}
    for i in range(1, N_MLP + 1):  # style = Sequential(PixelNorm(), EqualLinear(lr_mul=0.01) x n_mlp)
        state[f"style.{i}.weight"] = randn(STYLE_DIM, STYLE_DIM) / 0.01
        state[f"style.{i}.bias"] = torch.zeros(STYLE_DIM)
    state["input.input"] = randn(1, channels[4], 4, 4)
    state.update(styled("conv1", channels[4], channels[4]))
    state.update(to_rgb("to_rgb1", channels[4], upsample=False))
    log_size = int(math.log2(size))
    in_ch = channels[4]
    for i in range(3, log_size + 1):
        out_ch = channels[2**i]
        state.update(styled(f"convs.{2 * (i - 3)}", in_ch, out_ch, upsample=True))
        state.update(styled(f"convs.{2 * (i - 3) + 1}", out_ch, out_ch))
        state.update(to_rgb(f"to_rgbs.{i - 3}", out_ch))
        in_ch = out_ch
    for layer in range((log_size - 2) * 2 + 1):
        side = 2 ** ((layer + 5) // 2)
        state[f"noises.noise_{layer}"] = randn(1, 1, side, side)
    return state


def bn(prefix, channels):
    return {f"{prefix}.weight": 1 + 0.1 * randn(channels), f"{prefix}.bias": 0.1 * randn(channels),
            f"{prefix}.running_mean": 0.1 * randn(channels), f"{prefix}.running_var": 1 + 0.1 * randn(channels).abs(),
            f"{prefix}.num_batches_tracked": torch.tensor(7)}


def conv(prefix, out_ch, in_ch, k, bias=False):
    out = {f"{prefix}.weight": randn(out_ch, in_ch, k, k) / math.sqrt(in_ch * k * k)}
    if bias:
        out[f"{prefix}.bias"] = 0.1 * randn(out_ch)
    return out


def iresnet_state(units=(2, 2, 2, 2), widths=(4, 4, 8, 8, 16), features=8):
    """insightface's IResNet(IBasicBlock, units): conv1, bn1, prelu, layer1..4, bn2, fc (C*7*7 -> features), features."""
    state = {**conv("conv1", widths[0], 3, 3), **bn("bn1", widths[0]), "prelu.weight": torch.full((widths[0],), 0.25)}
    for stage, count in enumerate(units, start=1):
        inplanes, planes = widths[stage - 1], widths[stage]
        for unit in range(count):
            p, before = f"layer{stage}.{unit}", inplanes if unit == 0 else planes
            state.update({**bn(f"{p}.bn1", before), **conv(f"{p}.conv1", planes, before, 3), **bn(f"{p}.bn2", planes),
                          f"{p}.prelu.weight": torch.full((planes,), 0.25), **conv(f"{p}.conv2", planes, planes, 3),
                          **bn(f"{p}.bn3", planes)})
            if unit == 0:
                state.update({**conv(f"{p}.downsample.0", planes, before, 1), **bn(f"{p}.downsample.1", planes)})
    state.update({**bn("bn2", widths[-1]), "fc.weight": randn(features, widths[-1] * 49) / 20,
                  "fc.bias": torch.zeros(features), **bn("features", features)})
    return state


def e4e_checkpoint(blocks=((16, 16, 2), (16, 32, 2), (32, 48, 2), (48, 64, 1)), w_dim=STYLE_DIM, pools=4):
    """encoder4editing's saved dict: state_dict with encoder.* (input_layer, body of bottleneck_IR_SE units from
    get_blocks-like (in, depth, units) blocks, styles.<i> GradualStyleBlocks, latlayer1/2) and decoder.*, latent_avg."""
    enc = {**conv("input_layer.0", blocks[0][0], 3, 3), **bn("input_layer.1", blocks[0][0]),
           "input_layer.2.weight": torch.full((blocks[0][0],), 0.25)}
    index = 0
    for in_ch, depth, count in blocks:
        for unit in range(count):
            p, before = f"body.{index}", in_ch if unit == 0 else depth
            if before != depth:
                enc.update({**conv(f"{p}.shortcut_layer.0", depth, before, 1), **bn(f"{p}.shortcut_layer.1", depth)})
            enc.update({**bn(f"{p}.res_layer.0", before), **conv(f"{p}.res_layer.1", depth, before, 3),
                        f"{p}.res_layer.2.weight": torch.full((depth,), 0.25), **conv(f"{p}.res_layer.3", depth, depth, 3),
                        **bn(f"{p}.res_layer.4", depth), **conv(f"{p}.res_layer.5.fc1", depth // 16, depth, 1),
                        **conv(f"{p}.res_layer.5.fc2", depth, depth // 16, 1)})
            index += 1
    for style in range(2):  # styles.1 (an offset) and the lateral layers are e4e's W+ part
        for i in range(pools):
            enc.update(conv(f"styles.{style}.convs.{2 * i}", w_dim, blocks[-1][1] if i == 0 else w_dim, 3, bias=True))
        enc.update({f"styles.{style}.linear.weight": randn(w_dim, w_dim), f"styles.{style}.linear.bias": torch.zeros(w_dim)})
    enc.update({**conv("latlayer1", w_dim, blocks[2][1], 1, bias=True),
                **conv("latlayer2", w_dim, blocks[1][1], 1, bias=True)})
    state = {**{f"encoder.{k}": v for k, v in enc.items()}, **{f"decoder.{k}": v for k, v in rosinality_g_ema().items()}}
    return {"state_dict": state, "latent_avg": randn(8, w_dim), "opts": {"encoder_type": "Encoder4Editing"}}


def alexnet_features():
    """torchvision's alexnet().features tensors (convolutions 0, 3, 6, 8, 10), as its cache file holds them."""
    shapes = {0: (64, 3, 11), 3: (192, 64, 5), 6: (384, 192, 3), 8: (256, 384, 3), 10: (256, 256, 3)}
    out = {}
    for index, (o, i, k) in shapes.items():
        out.update({f"features.{index}.weight": randn(o, i, k, k) / math.sqrt(i * k * k),
                    f"features.{index}.bias": torch.zeros(o)})
    return out


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The user's files, in a folder: generator.pt, e4e.pt, arcface.pth, and a torch hub cache with AlexNet's features."""
    folder = tmp_path_factory.mktemp("byo")
    g_ema = rosinality_g_ema()
    torch.save({"g_ema": g_ema, "latent_avg": randn(STYLE_DIM)}, folder / "generator.pt")
    torch.save(e4e_checkpoint(), folder / "e4e.pt")
    torch.save(iresnet_state(), folder / "arcface.pth")
    hub = folder / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    torch.save(alexnet_features(), hub / "alexnet-test.pth")
    return folder


@pytest.fixture
def hub(files, monkeypatch):
    """The test's torch hub cache (its AlexNet file named without torch.hub's hash prefix); any download fails the test."""
    monkeypatch.setenv("TORCH_HOME", str(files / "torch"))
    monkeypatch.setitem(lpips_distance.BACKBONES, "alex", "alexnet-test.pth")
    forbid_downloads(monkeypatch)
    return files / "torch" / "hub" / "checkpoints"


def forbid_downloads(monkeypatch):
    def download(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", download)
    monkeypatch.setattr(torch.hub, "download_url_to_file", download)
    monkeypatch.setattr(urllib.request, "urlopen", download)
    monkeypatch.setattr(socket.socket, "connect", download)


MODELS = {"generator": {"kind": "stylegan2-rosinality", "path": "generator.pt"}, "encoder": "mean-latent",
          "perceptual": {"kind": "lpips", "net": "alex"},
          "identity": {"kind": "arcface-iresnet", "path": "arcface.pth", "layers": 18}}
TINY = {"description": "bring-your-own models, tiny", "resolution": SIZE,
        "source": {"kind": "faceworld", "world_seed": 3, "persons": 1, "sessions": 2, "train_per_session": 2,
                   "test_per_session": 2},
        "protocol": {"steps_per_session": 2, "joint_steps": 4, "anchor_steps": 2, "eval_steps": 2,
                     "synthesis_samples": 2}}


def kept(files, **roles):
    """MODELS with every file at its absolute path in ``files`` but for ``roles``, set as given."""
    absolute = {role: {**spec, "path": str(files / spec["path"])} if isinstance(spec, dict) and "path" in spec else spec
                for role, spec in MODELS.items()}
    return {**absolute, **roles}


def card_in(folder, models=MODELS, name="byo", **changes):
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump({**TINY, "models": models, **changes}, sort_keys=False))
    return load_card(path)


def test_a_user_generator_loads_through_the_card_and_draws_a_function_of_w(files, hub):
    card = card_in(files)
    models = GenericModels.for_card(card)
    g = models.generator
    assert (g.w_dim, g.resolution, g.config["native_resolution"]) == (STYLE_DIM, SIZE, SIZE)
    w = g.mapping(randn(3, STYLE_DIM))
    images = g.synthesis(w)
    assert images.shape == (3, 3, SIZE, SIZE) and torch.isfinite(images).all()
    assert torch.equal(images, g.synthesis(w))  # the fixed noise buffers: deterministic
    saved = torch.load(files / "generator.pt")
    assert torch.equal(g.latent_avg, saved["latent_avg"])
    assert torch.equal(models.encoder(images), g.latent_avg.expand(3, -1))  # mean-latent
    assert models.sha256["generator"] == hashlib.sha256((files / "generator.pt").read_bytes()).hexdigest()
    assert models.sha256["encoder"] == models.sha256["generator"]
    assert models.backends == card_backends(card) == {
        "generator": "stylegan2-rosinality", "encoder": "mean-latent", "perceptual": "lpips-alex",
        "identity": "arcface-iresnet18"}
    assert card_sha256s(card) == models.sha256


def fused_reference(conv: ModulatedConv2d, x, w):
    """rosinality's fused ModulatedConv2d.forward (grouped convolution), with its native upfirdn2d blur."""
    batch, in_ch, h, wd = x.shape
    style = conv.modulation(w).view(batch, 1, in_ch, 1, 1)
    weight = conv.scale * conv.weight * style
    if conv.demodulate:
        weight = weight * torch.rsqrt(weight.pow(2).sum([2, 3, 4]) + 1e-8).view(batch, -1, 1, 1, 1)
    out_ch, k = weight.shape[1], weight.shape[-1]
    if not conv.upsample:
        out = F.conv2d(x.reshape(1, -1, h, wd), weight.view(-1, in_ch, k, k), padding=k // 2, groups=batch)
        return out.view(batch, out_ch, h, wd)
    weight = weight.transpose(1, 2).reshape(batch * in_ch, out_ch, k, k)
    out = F.conv_transpose2d(x.reshape(1, -1, h, wd), weight, stride=2, groups=batch)
    out = out.view(batch, out_ch, *out.shape[-2:])
    return upfirdn2d_native(out, conv.blur.kernel, 1, (1, 1))


def upfirdn2d_native(x, kernel, up, pad):
    """rosinality's upfirdn2d_native (op/upfirdn2d.py) for up_x = up_y, no downsampling, pads >= 0."""
    _, channel, in_h, in_w = x.shape
    out = x.reshape(-1, in_h, 1, in_w, 1, 1)
    out = F.pad(out, [0, 0, 0, up - 1, 0, 0, 0, up - 1]).view(-1, in_h * up, in_w * up, 1)
    out = F.pad(out, [0, 0, pad[0], pad[1], pad[0], pad[1]]).permute(0, 3, 1, 2)
    out = F.conv2d(out, torch.flip(kernel, [0, 1]).view(1, 1, *kernel.shape))
    return out.view(-1, channel, *out.shape[-2:])


@pytest.mark.parametrize("upsample, demodulate", [(False, True), (True, True), (False, False)])
def test_the_modulated_convolution_equals_rosinalitys_fused_form(upsample, demodulate):
    conv = ModulatedConv2d(6, 5, 3 if demodulate else 1, STYLE_DIM, demodulate=demodulate, upsample=upsample)
    x, w = randn(2, 6, 8, 8), randn(2, STYLE_DIM)
    mine, theirs = conv(x, w), fused_reference(conv, x, w)
    assert mine.shape == theirs.shape == (2, 5, 16 if upsample else 8, 16 if upsample else 8)
    torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("up, pad", [(1, (1, 1)), (2, (2, 1))], ids=["the upsampling blur", "ToRGB's upsample"])
def test_upfirdn2d_equals_rosinalitys_native_form(up, pad):
    from facebench.models.byo.stylegan2 import upfirdn2d

    x, kernel = randn(2, 3, 5, 6), randn(4, 4)  # a kernel of no symmetry: the flip counts
    torch.testing.assert_close(upfirdn2d(x, kernel, up, pad), upfirdn2d_native(x, kernel, up, pad))


def test_a_larger_generator_is_averaged_down_to_the_card_and_a_smaller_one_refused(tmp_path):
    path = tmp_path / "g64.pt"
    torch.save({"g_ema": rosinality_g_ema(64, {**CHANNELS, 64: 4})}, path)
    small, native = load_stylegan2(path, SIZE), load_stylegan2(path, 64)
    w = randn(2, STYLE_DIM)
    torch.testing.assert_close(small.synthesis(w), F.avg_pool2d(native.synthesis(w), 2))
    with torch.no_grad():  # no latent_avg saved: the mean of the mapping over seeded z
        assert torch.allclose(small.latent_avg, small.mapping(torch.randn(
            10_000, STYLE_DIM, generator=torch.Generator().manual_seed(0))).mean(0))
    with pytest.raises(ModelFileError, match=r"g64\.pt: a 64 px generator, but the card's resolution is 128 px"):
        load_stylegan2(path, 128)


def renamed(state, old, new):
    return {(new if key == old else key): value for key, value in state.items()}


BAD_GENERATORS = [
    # (what is wrong, the checkpoint, the words of the one-line error)
    ("a wrong shape", lambda g: {"g_ema": {**g, "convs.3.conv.weight": randn(1, 4, 16, 3, 3)}},
     "key g_ema.convs.3.conv.weight has shape (1, 4, 16, 3, 3) but a 32 px StyleGAN2 of style dimension 16, 2 "
     "mapping layers and channels 16/16/8/8 from 4 px up (read from input.input, convs.<2j> and style.1) expects "
     "(1, 8, 8, 3, 3)"),
    ("a wrong key", lambda g: {"g_ema": renamed(g, "to_rgbs.1.bias", "to_rgbs.1.bais")},
     "key g_ema.to_rgbs.1.bias is missing (a 32 px StyleGAN2"),
    ("an extra key", lambda g: {"g_ema": {**g, "extra.weight": randn(2)}}, "key g_ema.extra.weight is not part of"),
    ("no g_ema", lambda g: {"g": g}, "has no 'g_ema' entry: not a StyleGAN2 generator in rosinality's layout"),
    ("no constant input", lambda g: {"g_ema": renamed(g, "input.input", "const")},
     "key g_ema.input.input is missing: not a StyleGAN2"),
    ("a bad latent_avg", lambda g: {"g_ema": g, "latent_avg": randn(3)},
     "latent_avg is (3,), not (16,) or (layers, 16)"),
]


@pytest.mark.parametrize("make, words", [case[1:] for case in BAD_GENERATORS], ids=[c[0] for c in BAD_GENERATORS])
def test_a_wrong_generator_file_is_one_line_naming_it_and_the_mismatch(files, hub, tmp_path, capsys, make, words):
    path = tmp_path / "generator.pt"
    torch.save(make(rosinality_g_ema()), path)
    card = card_in(tmp_path, kept(files, generator=MODELS["generator"]))
    with pytest.raises(ModelFileError) as error:
        GenericModels.for_card(card)
    message = str(error.value)
    assert message.startswith(f"{path}: ") and words in message and "\n" not in message


def test_missing_unreadable_and_other_files_are_one_line_errors(files, hub, tmp_path, capsys):
    card = card_in(tmp_path, kept(files, generator=MODELS["generator"]))
    with pytest.raises(ModelFileError, match=rf"{tmp_path}/generator.pt: no such file \(models.generator.path of "):
        card_sha256s(card)
    (tmp_path / "generator.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelFileError, match=r"generator.pt: not a checkpoint torch.load can read"):
        GenericModels.for_card(card)
    torch.save({"g_ema": rosinality_g_ema(), "args": socket.AddressFamily.AF_INET}, tmp_path / "generator.pt")
    with pytest.raises(ModelFileError, match=r"generator.pt: holds a socket.AddressFamily object: facebench reads "
                                             r"tensors and plain containers only, never code from a file"):
        GenericModels.for_card(card)
    pinned = kept(files, generator={**kept(files)["generator"], "sha256": "0" * 64})
    with pytest.raises(ModelFileError, match=r"generator.pt: sha256 [0-9a-f]{64} differs from the card's "
                                             r"models.generator.sha256 0{64}"):
        card_sha256s(card_in(tmp_path, pinned))
    wrong_depth = kept(files, identity={**kept(files)["identity"], "layers": 50})
    with pytest.raises(ModelFileError, match=r"arcface.pth: its stages have 2/2/2/2 units \(iresnet18's\), but the "
                                             r"card's models.identity.layers 50 needs 3/4/14/3"):
        GenericModels.for_card(card_in(tmp_path, wrong_depth))
    wrong_width = iresnet_state()
    wrong_width["layer2.1.conv2.weight"] = randn(8, 4, 3, 3)
    torch.save(wrong_width, tmp_path / "arcface.pth")
    wrong_width_card = kept(files, identity=MODELS["identity"])
    with pytest.raises(ModelFileError, match=r"arcface.pth: key layer2.1.conv2.weight has shape \(8, 4, 3, 3\) but "
                                             r"iresnet18 of widths 4/4/8/8/16 .* expects \(8, 8, 3, 3\)"):
        GenericModels.for_card(card_in(tmp_path, wrong_width_card))
    assert main(["run", "--strategy", "naive", "--scenario", str(tmp_path / "byo.yaml"), "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "arcface.pth: key layer2.1.conv2.weight" in err


def test_an_e4e_checkpoint_encodes_into_the_generators_w_from_its_base_code(files, hub):
    card = card_in(files, {**MODELS, "encoder": {"kind": "e4e", "path": "e4e.pt"}})
    models = GenericModels.for_card(card)
    e4e = models.encoder
    saved = torch.load(files / "e4e.pt")
    assert torch.equal(e4e.latent_avg, saved["latent_avg"][0])
    images = torch.rand(2, 3, SIZE, SIZE)
    w = e4e(images)
    assert w.shape == (2, STYLE_DIM) and torch.isfinite(w).all()
    assert models.backends["encoder"] == "e4e"
    assert models.sha256["encoder"] == hashlib.sha256((files / "e4e.pt").read_bytes()).hexdigest()
    narrow = files / "e4e-narrow.pt"
    torch.save(e4e_checkpoint(w_dim=8), narrow)
    with pytest.raises(ModelFileError, match=r"e4e-narrow.pt: encodes into a W of 8 dimensions, the generator's has 16"):
        GenericModels.for_card(card_in(files, {**MODELS, "encoder": {"kind": "e4e", "path": "e4e-narrow.pt"}}, "n"))


def test_arcface_embeddings_are_unit_vectors_that_tell_images_apart(files, hub):
    identity = GenericModels.for_card(card_in(files)).identity
    images = torch.rand(3, 3, SIZE, SIZE)
    e = identity(images)
    assert e.shape == (3, 8) and torch.allclose(e.norm(dim=1), torch.ones(3), atol=1e-5)
    assert torch.allclose((identity(images.clone()) * e).sum(1), torch.ones(3), atol=1e-5)


def test_lpips_is_zero_for_equal_images_and_grows_with_noise(files, hub):
    lpips = GenericModels.for_card(card_in(files)).perceptual
    x = torch.rand(2, 3, SIZE, SIZE)
    near, far = (x + 0.05 * randn(*x.shape)).clamp(0, 1), (x + 0.3 * randn(*x.shape)).clamp(0, 1)
    d = [lpips(x, y) for y in (x, near, far)]
    assert all(v.shape == (2,) for v in d) and torch.all(d[0].abs() < 1e-6) and torch.all(d[1] < d[2])


def test_a_missing_lpips_backbone_says_where_it_goes_and_nothing_is_downloaded(files, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    forbid_downloads(monkeypatch)
    card = card_in(files, {**MODELS, "perceptual": {"kind": "lpips", "net": "vgg"}}, "vgg")
    expected = tmp_path / "empty" / "hub" / "checkpoints" / "vgg16-397923af.pth"
    for attempt in (card_sha256s, GenericModels.for_card):
        with pytest.raises(ModelFileError) as error:
            attempt(card)
        message = str(error.value)
        assert message.startswith(f"{expected}: no such file") and "never downloads" in message
        assert "torchvision.models.vgg16(weights='IMAGENET1K_V1')" in message and "\n" not in message


def test_a_backbone_file_whose_hash_is_not_its_names_is_refused(files, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    forbid_downloads(monkeypatch)
    (tmp_path / "hub" / "checkpoints").mkdir(parents=True)
    torch.save(alexnet_features(), tmp_path / "hub" / "checkpoints" / "alexnet-owt-7be5be79.pth")
    with pytest.raises(ModelFileError, match=r"alexnet-owt-7be5be79.pth: its sha256 does not start with 7be5be79"):
        GenericModels.for_card(card_in(files))


def test_a_run_on_user_models_ends_to_end_and_names_its_backends(files, hub, tmp_path, anchor_cache, monkeypatch):
    monkeypatch.setenv("FACEBENCH_GIT_COMMIT", "test")
    card = card_in(files)
    assert main(["run", "--strategy", "er-rand", "--param", "buffer_size=1", "--scenario", str(card.path),
                 "--out", str(tmp_path)]) == 0
    [path] = tmp_path.rglob("person0-seed0.json")
    result = json.loads(path.read_text())
    assert validate(result) == []
    assert result["provenance"]["models"] == card_sha256s(card)
    assert result["provenance"]["backends"] == card_backends(card)
    assert result["scenario"]["card"]["models"]["identity"]["kind"] == "arcface-iresnet"
    assert all(math.isfinite(v) for row in result["scores"]["recon_identity"]["matrix"] for v in row if v is not None)
    other = json.loads(path.read_text())
    other["provenance"]["backends"]["identity"] = "dlib-resnet-v1"
    other["seed"] = 1
    (path.parent / "person0-seed1.json").write_text(json.dumps(other))
    problems = board_load.check(tmp_path)
    assert len(problems) == 1 and "provenance.backends.identity: 'dlib-resnet-v1' mixed into a board whose " \
                                  "identity is 'arcface-iresnet18'" in problems[0]


def test_dlib_is_an_identity_backend_of_a_card(files, hub):
    pytest.importorskip("dlib", reason="needs the photos extra: pip install 'facebench[photos]'")
    from facebench.models.dlib_identity import NAME, DlibIdentity, model_sha256

    card = card_in(files, kept(files, identity="dlib"), "dlib")
    models = GenericModels.for_card(card)
    assert isinstance(models.identity, DlibIdentity)
    assert (models.backends["identity"], models.sha256["identity"]) == (NAME, model_sha256())
