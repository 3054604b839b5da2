"""The FaceWorld painter: factors in, anti-aliased RGB faces out, a whole batch at once.

Coordinates: image space runs over [-1, 1] on both axes, x to the right and y downwards.
The head lives in its own frame ``q = R(-roll) (p - centre) / scale``; every feature is drawn
there, so framing, camera distance and roll move the whole face coherently. Yaw and pitch
shift the inner features (eyes, nose, mouth) against the face outline, by depth.

Layers, back to front: background, hair behind the head, clothing and neck, ears, face,
make-up, eyes, brows, nose, facial hair, mouth, hair in front, glasses, headwear. Foreground
colours are lit by a Lambertian head ellipsoid under the session's light (direction,
strength, ambient, colour temperature); then the image is blurred and noise is added.

Drift (``factors.DRIFT_FACTORS``): ``weight`` widens the face by the factor 1 + weight;
``hair_grey`` moves the natural hair colour (hair, brows, facial hair; not dyed hair, which
covers grey) that fraction of the way to grey. At 0 both are exact identities (x * 1 and
x + 0), so an image without drift has the same bytes as before drift existed.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from . import shapes as S
from .factors import FACIAL_HAIR, GLASSES, HAIRSTYLES, HEADWEAR

_SKIN_DARK = (0.33, 0.20, 0.12)
_SKIN_PALE = (0.97, 0.84, 0.74)
_HAIR_RAMP = [(0.07, 0.05, 0.04), (0.24, 0.14, 0.07), (0.46, 0.30, 0.15), (0.86, 0.72, 0.44), (0.66, 0.26, 0.10)]
_IRIS_RAMP = [(0.28, 0.16, 0.07), (0.30, 0.46, 0.22), (0.28, 0.50, 0.78)]
_GREY_HAIR = (0.72, 0.71, 0.68)


def _ramp(t: torch.Tensor, stops: list[tuple[float, float, float]]) -> torch.Tensor:
    """Piecewise-linear colour ramp: t in [0, 1] -> (N, 3) over equally spaced stops."""
    stops_t = torch.tensor(stops, dtype=t.dtype)
    pos = t.clamp(0, 1) * (len(stops) - 1)
    lo = pos.floor().long().clamp(max=len(stops) - 2)
    frac = (pos - lo).unsqueeze(1)
    return stops_t[lo] * (1 - frac) + stops_t[lo + 1] * frac


def _hue(h: torch.Tensor, sat: float, val: torch.Tensor | float) -> torch.Tensor:
    """HSV colour with hue h in [0, 1] -> (N, 3) RGB."""
    k = torch.stack([(5 + h * 6) % 6, (3 + h * 6) % 6, (1 + h * 6) % 6], dim=1)
    val = torch.as_tensor(val, dtype=h.dtype).reshape(-1, 1)
    return val - val * sat * torch.clamp(torch.minimum(k, 4 - k), 0, 1)


class _Canvas:
    """An (N, 3, H, W) image being painted with ``over``, lit once at the end.

    Every foreground layer is lit by the same light L, so compositing commutes with it:
    the image is ``background * uncovered + L * paint``, where ``paint`` accumulates the
    unlit colours with the "over" rule and ``uncovered`` = prod(1 - alpha).
    """

    def __init__(self, n: int, size: int, pixel: torch.Tensor):
        self.paint = torch.zeros(n, 3, size, size)
        self.uncovered = torch.ones(n, 1, size, size)
        self.pixel = pixel  # (N, 1, 1) one pixel in head units

    def over(self, alpha: torch.Tensor, color: torch.Tensor) -> None:
        """Paint ``color`` ((N, 3) or (N, 3, H, W)) with ``alpha`` ((N, H, W)) over the image."""
        if color.dim() == 2:
            color = color[:, :, None, None]
        a = alpha.unsqueeze(1)
        keep = 1 - a
        self.paint.mul_(keep).add_(a * color)
        self.uncovered.mul_(keep)

    def shape(self, sd: torch.Tensor, color: torch.Tensor, opacity=1.0) -> None:
        """Paint an anti-aliased shape given by its signed distance."""
        self.over(S.coverage(sd, self.pixel) * opacity, color)

    def image(self, background: torch.Tensor, light: torch.Tensor) -> torch.Tensor:
        """The final image: background where uncovered, lit paint elsewhere."""
        return background * self.uncovered + light * self.paint


def _col(v: torch.Tensor) -> torch.Tensor:
    return v.reshape(-1, 1, 1)


def render(values: dict[str, np.ndarray], noise: np.ndarray, size: int) -> torch.Tensor:
    """Paint N faces.

    Args:
        values: factor name -> (N,) raw factor values (see ``factors``).
        noise: (N, 3, size, size) standard normal draws, scaled here by the ``noise`` factor.
        size: image side in pixels.

    Returns:
        (N, 3, size, size) float32 RGB in [0, 1].
    """
    f = {k: torch.as_tensor(v, dtype=torch.float32) for k, v in values.items()}
    n = len(f["face_width"])
    c = {k: _col(v) for k, v in f.items()}
    axis = (torch.arange(size, dtype=torch.float32) + 0.5) / size * 2 - 1
    py, px = axis.view(1, size, 1), axis.view(1, 1, size)

    scale = c["camera_scale"] * (1 + c["scale_jitter"])
    roll = c["mean_roll"] + c["roll_jitter"]
    yaw = c["mean_yaw"] + c["yaw_jitter"]
    pitch = c["mean_pitch"] + c["pitch_jitter"]
    cx, cy = c["shift_x"], c["shift_y"] + 0.1
    qx, qy = S.rotate(px, py, cx, cy, -roll)
    qx, qy = (qx - cx) / scale, (qy - cy) / scale
    pixel = 2.0 / size / scale

    rx, ry = c["face_width"] * (1 + c["weight"]), c["face_height"]
    fdx, fdy = torch.sin(yaw) * rx * 0.55, torch.sin(pitch) * ry * 0.35  # inner feature shift
    odx = torch.sin(yaw) * rx * 0.10  # outline shift

    cv = _Canvas(n, size, pixel)

    skin = _ramp(f["skin_tone"], [_SKIN_DARK, _SKIN_PALE])
    warm = f["skin_warmth"]
    skin = skin + torch.stack([warm * 0.06 - 0.03, torch.zeros_like(warm), 0.02 - warm * 0.04], 1)
    natural_hair = _ramp(f["natural_hair_tone"], _HAIR_RAMP)
    natural_hair = natural_hair + (torch.tensor(_GREY_HAIR) - natural_hair) * f["hair_grey"].unsqueeze(1)
    dyed = torch.stack([f["hair_r"], f["hair_g"], f["hair_b"]], 1) * 0.85 + 0.05
    hair = torch.where((f["hair_dyed"] > 0.65).unsqueeze(1), dyed, natural_hair)
    strands = 1 + 0.10 * torch.sin((qx * 0.6 + qy) * 70 + qx * 9).unsqueeze(1)
    hair_tex = hair[:, :, None, None] * strands
    style = f["hairstyle"].long()
    vol = 0.03 + 0.07 * c["hair_volume"]

    _hair_back(cv, style, qx, qy, rx, ry, vol, odx, hair_tex)
    _body(cv, f, c, qx, qy, rx, ry, skin)
    _ears(cv, c, qx, qy, rx, ry, yaw, fdy, skin)
    face_sd = _face_sd(qx - odx, qy, rx, ry, c["jaw_width"])
    cv.shape(face_sd, skin)
    _makeup_cheeks(cv, c, qx - fdx, qy - fdy)
    eyes = _eyes(cv, f, c, qx - fdx, qy - fdy, skin, yaw)
    _brows(cv, c, qx - fdx, qy - fdy, natural_hair * 0.8)
    _nose(cv, c, qx - fdx * 1.3, qy - fdy, skin)
    _facial_hair(cv, f, c, qx - fdx, qy - fdy, face_sd, natural_hair * 0.85)
    _mouth(cv, f, c, qx - fdx, qy - fdy, skin)
    _hair_front(cv, style, c, qx - odx, qy, rx, ry, vol, face_sd, hair_tex, skin)
    _glasses(cv, f, c, eyes, qx - fdx, qy - fdy, rx)
    _headwear(cv, f, c, qx - odx, qy, rx, ry, vol, fdx, fdy)

    img = cv.image(_background(f, c, px, py), _lighting(f, c, qx, qy, rx, ry, yaw))
    img = _blur(img, f["blur"] * size / 64.0)
    img = img + torch.as_tensor(noise, dtype=torch.float32) * c["noise"].unsqueeze(1)
    return img.clamp_(0.0, 1.0)


def _lighting(f, c, qx, qy, rx, ry, yaw) -> torch.Tensor:
    """Foreground light (N, 3, H, W): (ambient + (1 - ambient) strength max(0, n.l)) x temperature,
    with n the normal of an ellipsoid around the head and l the session light turned by -yaw."""
    az = c["light_azimuth"] + c["light_jitter"] - yaw
    el = c["light_elevation"]
    lx, ly, lz = torch.sin(az) * torch.cos(el), -torch.sin(el), torch.cos(az) * torch.cos(el)
    nx, ny = qx / (rx * 1.35), qy / (ry * 1.25)
    r2 = (nx * nx + ny * ny).clamp(max=0.97)
    nz = torch.sqrt(1 - r2)
    ndotl = (nx * lx + ny * ly + nz * lz).clamp(min=0)
    amb = c["ambient"]
    shade = amb + (1 - amb) * c["light_strength"] * 1.25 * ndotl
    t = f["light_temperature"]
    temp = torch.stack([1 + 0.12 * t, 1 + 0.02 * t, 1 - 0.16 * t], 1)[:, :, None, None]
    return shade.unsqueeze(1) * temp


def _background(f, c, px, py) -> torch.Tensor:
    """The session's backdrop (N, 3, H, W): one of ``BACKGROUNDS``, tinted by the light."""
    kind = f["background"].long()
    light = c["background_lightness"]
    a = _hue(f["background_hue"], 0.45, f["background_lightness"])[:, :, None, None]
    b = _hue(f["background_hue2"], 0.55, (f["background_lightness"] * 0.6 + 0.25))[:, :, None, None]
    t = torch.zeros_like(px * py + light)
    grad = ((py + 1) / 2).expand_as(t)
    stripes = (torch.sin(px * (6 + 10 * c["background_hue2"])) > 0).float().expand_as(t)
    blocks = ((torch.sin(px * 7) * torch.sin(py * 5 + 1)) > 0.25).float().expand_as(t)
    dots = torch.exp(-((torch.sin(px * 9 + c["background_hue"] * 6) ** 2 + torch.sin(py * 8) ** 2) * 4)).expand_as(t)
    mixes = torch.stack([t, grad, stripes * 0.8, blocks * 0.9, dots], 0)  # in BACKGROUNDS order
    mix = mixes[kind, torch.arange(len(kind))].unsqueeze(1)
    bg = a * (1 - mix) + b * mix
    temp = c["light_temperature"].unsqueeze(1)
    tint = torch.cat([1 + 0.08 * temp, torch.ones_like(temp), 1 - 0.1 * temp], 1)
    return bg * tint * (0.75 + 0.25 * c["light_strength"].unsqueeze(1))


def _face_sd(x, y, rx, ry, jaw) -> torch.Tensor:
    """Face outline: an ellipse whose half width narrows to ``jaw`` x rx at the chin."""
    t = (y / ry).clamp(0, 1)
    taper = 1 - (1 - jaw) * t * t
    return S.ellipse(x / taper, y, 0.0, 0.0, rx, ry)


def _hair_back(cv, style, qx, qy, rx, ry, vol, odx, hair) -> None:
    """Hair that falls behind the head: long, bob and curly styles."""
    length = torch.tensor([-1.0, -1.0, -1.0, 0.32, 0.95, -1.0, 0.40, -1.0])[style].reshape(-1, 1, 1)
    width = rx + vol + 0.05
    sd = S.box(qx - odx, qy, 0.0, (length - ry) / 2, width, (length + ry) / 2 + 0.02, 0.12)
    curly = (style == HAIRSTYLES.index("curly")).float().reshape(-1, 1, 1)
    theta = torch.atan2(qy + 0.1, qx - odx)
    bumps = 0.02 * torch.sin(theta * 14)
    sd_curly = S.ellipse(qx - odx, qy + 0.08, 0.0, 0.0, rx + 0.16 + vol, ry + 0.12 + vol) + bumps
    sd = torch.where(curly > 0, sd_curly, sd)
    has = (length > 0).float()
    cv.shape(sd, hair * 0.85, opacity=has)


def _body(cv, f, c, qx, qy, rx, ry, skin) -> None:
    clothing = _hue(f["clothing_hue"], 0.6, f["clothing_lightness"])
    neck = S.box(qx, qy, 0.0, ry + 0.3, rx * 0.52, 0.45, 0.05)
    cv.shape(neck, skin * 0.82)
    shoulders = S.ellipse(qx, qy, 0.0, ry + 0.95, rx + 0.55, 0.55)
    cv.shape(shoulders, clothing)
    collar = S.ellipse(qx, qy, 0.0, ry + 0.42, rx * 0.5, 0.1)
    cv.shape(collar, skin * 0.8)


def _ears(cv, c, qx, qy, rx, ry, yaw, fdy, skin) -> None:
    for side in (-1.0, 1.0):
        turn = 1 - side * torch.sin(yaw) * 1.3
        ex = side * (rx * 0.97 - torch.sin(yaw) * rx * 0.25)
        ey = c["ear_height"] + fdy * 0.5
        sd = S.ellipse(qx, qy, ex, ey, (c["ear_size"] * 0.45 * turn).clamp(min=0.005), c["ear_size"])
        cv.shape(sd, skin * 0.93)
        inner = S.ellipse(qx, qy, ex + side * 0.01, ey, (c["ear_size"] * 0.2 * turn).clamp(min=0.003), c["ear_size"] * 0.6)
        cv.shape(inner, skin * 0.7, opacity=0.5)


def _makeup_cheeks(cv, c, x, y) -> None:
    for side in (-1.0, 1.0):
        sd = S.circle(x, y, side * (c["eye_spacing"] + 0.05), c["eye_height"] + 0.14, 0.02)
        blush = torch.tensor([0.85, 0.30, 0.35]).expand(len(c["blush"]), 3)
        cv.over(S.soft(sd, 0.05) * c["blush"] * 0.45, blush)


def _eyes(cv, f, c, x, y, skin, yaw) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Eye whites, irises, pupils, glints, eye shadow and lids; returns the eye centres."""
    size = c["eye_size"]
    iris_col = _ramp(f["iris_hue"], _IRIS_RAMP)
    shadow_col = _hue(f["eye_shadow_hue"], 0.6, 0.55)
    open_ = (1 - c["blink"]).clamp(min=0.0)
    centres = []
    for side in (-1.0, 1.0):
        ex, ey = side * c["eye_spacing"], c["eye_height"]
        centres.append((ex, ey))
        ux, uy = S.rotate(x, y, ex, ey, side * c["eye_tilt"])
        sh = S.ellipse(ux, uy, ex, ey - size * 0.55, size * 1.55, size * 0.85)
        cv.over(S.soft(sh, 0.02) * c["eye_shadow"] * 0.75, shadow_col)
        white_sd = S.ellipse(ux, uy, ex, ey, size * 1.2, (size * 0.62 * open_).clamp(min=1e-4))
        white = S.coverage(white_sd, cv.pixel)
        cv.over(white, torch.tensor([0.93, 0.92, 0.90]).expand(len(size), 3))
        gaze = torch.sin(yaw) * size * 0.35
        iris = S.coverage(S.circle(ux, uy, ex + gaze, ey, size * 0.56), cv.pixel) * white
        cv.over(iris, iris_col)
        pupil = S.coverage(S.circle(ux, uy, ex + gaze, ey, size * 0.25), cv.pixel) * white
        cv.over(pupil, torch.full((len(size), 3), 0.03))
        glint = S.coverage(S.circle(ux, uy, ex + gaze + size * 0.2, ey - size * 0.2, size * 0.1), cv.pixel) * white
        cv.over(glint, torch.full((len(size), 3), 1.4))
        lid = S.segment(ux, uy, ex - size * 1.2, ey - size * 0.62 * open_, ex + size * 1.2, ey - size * 0.62 * open_, 0.006)
        cv.shape(lid, skin * 0.45, opacity=0.8)
    return centres


def _brows(cv, c, x, y, color) -> None:
    for side in (-1.0, 1.0):
        ex, ey = side * c["eye_spacing"], c["eye_height"] - c["brow_height"]
        half = c["eye_size"] * 1.4
        rise = torch.sin(c["brow_angle"]) * half
        sd = S.segment(x, y, ex - side * half, ey + rise, ex + side * half, ey - rise, c["brow_thickness"])
        cv.shape(sd, color, opacity=0.9)


def _nose(cv, c, x, y, skin) -> None:
    tip = c["eye_height"] + c["nose_length"]
    width = c["nose_width"]
    ridge = S.segment(x, y, width * 0.35, c["eye_height"] + 0.03, width * 0.55, tip - 0.01, 0.008)
    cv.over(S.soft(ridge, 0.012) * 0.35, skin * 0.6)
    for side in (-1.0, 1.0):
        nostril = S.ellipse(x, y, side * width * 0.45, tip, 0.017, 0.009)
        cv.shape(nostril, skin * 0.35, opacity=0.85)


def _facial_hair(cv, f, c, x, y, face_sd, color) -> None:
    kind = f["facial_hair"].long().reshape(-1, 1, 1)
    my = c["mouth_height"]
    mw = c["mouth_width"]
    lower = torch.sigmoid((y - (my - 0.07)) / 0.01)
    inside = S.coverage(face_sd, cv.pixel)
    stubble = lower * inside * 0.35 * (kind == FACIAL_HAIR.index("stubble"))
    beard = lower * inside * 0.92 * (kind == FACIAL_HAIR.index("beard"))
    chin = S.coverage(S.ellipse(x, y, 0.0, my + 0.12, mw * 0.55, 0.09), cv.pixel) * 0.92
    goatee = chin * (kind == FACIAL_HAIR.index("goatee"))
    tache = S.coverage(S.segment(x, y, -mw * 0.95, my - 0.05, mw * 0.95, my - 0.05, 0.02), cv.pixel)
    has_tache = (kind >= FACIAL_HAIR.index("moustache")).float()
    alpha = torch.maximum(torch.maximum(stubble, beard), torch.maximum(goatee, tache * has_tache * 0.95))
    cv.over(alpha, color)


def _mouth(cv, f, c, x, y, skin) -> None:
    mw, my = c["mouth_width"], c["mouth_height"]
    red = f["lip_redness"]
    lip_natural = skin * 0.75 + torch.stack([0.25 * red, torch.full_like(red, 0.02), torch.full_like(red, 0.04)], 1)
    lipstick = _hue(0.92 + 0.16 * f["lipstick_hue"] - (0.92 + 0.16 * f["lipstick_hue"] > 1).float(), 0.75, 0.65)
    strength = (f["lipstick"] > 0.5).float() * f["lipstick"]
    lips = lip_natural * (1 - strength[:, None]) + lipstick * strength[:, None]
    curve = c["smile"] * 0.045 * (x / mw) ** 2
    yy = y - my + curve
    opening = c["mouth_open"] * 0.035
    lip_sd = S.ellipse(x, yy, 0.0, 0.0, mw, c["lip_thickness"] + opening)
    cv.shape(lip_sd, lips)
    inner_sd = S.ellipse(x, yy, 0.0, 0.0, mw * 0.82, opening + 0.003)
    cv.shape(inner_sd, torch.tensor([0.25, 0.05, 0.06]).expand(len(mw), 3), opacity=0.9)


def _hair_front(cv, style, c, x, y, rx, ry, vol, face_sd, hair, skin) -> None:
    """Hair on the head: a cap above the hairline, sides, and the style's extras."""
    sel = lambda name: (style == HAIRSTYLES.index(name)).float().reshape(-1, 1, 1)  # noqa: E731
    part = c["hair_part"] * sel("side_part")
    hairline = c["hairline"] + 0.14 * (x / rx) ** 2 + 0.10 * part * x / rx
    fringe_low = sel("bob") * 0.12
    hairline = hairline + fringe_low
    outer = S.ellipse(x, y, 0.0, -0.03, rx + vol, ry + vol * 0.6)
    above = torch.sigmoid((hairline - y) / 0.008)
    sides = torch.sigmoid((-0.02 - y) / 0.01) * (1 - S.coverage(face_sd, cv.pixel))
    cap = S.coverage(outer, cv.pixel) * torch.maximum(above, sides)
    thin = sel("buzz") + sel("mohawk")
    cap_alpha = cap * (1 - thin * 0.55)
    cv.over(cap_alpha, hair)
    mohawk = S.coverage(S.box(x, y, 0.0, -ry - 0.02, 0.05, 0.16, 0.04), cv.pixel) * sel("mohawk")
    bun = S.coverage(S.circle(x, y, 0.0, -ry - 0.10, 0.11 + vol * 0.5), cv.pixel) * sel("bun")
    cv.over(torch.maximum(mohawk, bun), hair)


def _glasses(cv, f, c, eyes, x, y, rx) -> None:
    kind = f["glasses"].long().reshape(-1, 1, 1)
    has = (kind > 0).float()
    frame = torch.stack([f["glasses_r"], f["glasses_g"], f["glasses_b"]], 1) * 0.6
    r = c["eye_size"] * 2.0
    rims = []
    for side, (ex, ey) in zip((-1.0, 1.0), eyes):
        round_sd = S.circle(x, y, ex, ey, r)
        square_sd = S.box(x, y, ex, ey, r * 1.1, r * 0.8, 0.015)
        sd = torch.where(kind == GLASSES.index("round"), round_sd, square_sd)
        sun = (kind == GLASSES.index("sunglasses")).float()
        cv.shape(sd, torch.full((len(r), 3), 0.05), opacity=0.85 * sun)
        rims.append(sd)
    rim = torch.minimum(rims[0].abs(), rims[1].abs()) - 0.009
    (lx, ly), (rx_, _) = eyes
    bridge = S.segment(x, y, lx + r, ly, rx_ - r, ly, 0.008)
    temple_l = S.segment(x, y, lx - r * 1.05, ly, -rx * 0.98, ly - 0.01, 0.007)
    temple_r = S.segment(x, y, rx_ + r * 1.05, ly, rx * 0.98, ly - 0.01, 0.007)
    sd = torch.minimum(torch.minimum(rim, bridge), torch.minimum(temple_l, temple_r))
    cv.shape(sd, frame, opacity=has)


def _headwear(cv, f, c, x, y, rx, ry, vol, fdx, fdy) -> None:
    kind = f["headwear"].long().reshape(-1, 1, 1)
    color = _hue(f["headwear_hue"], 0.7, 0.7)
    sel = lambda name: (kind == HEADWEAR.index(name)).float()  # noqa: E731
    dome = S.ellipse(x, y, 0.0, -0.05, rx + vol + 0.03, ry + vol * 0.6 + 0.06)
    crown = torch.sigmoid((-ry * 0.5 - y) / 0.008)
    cap = S.coverage(dome, cv.pixel) * crown
    brim = S.coverage(S.ellipse(x, y, fdx * 1.5, -ry * 0.5 + fdy * 0.5, rx + 0.12, 0.045), cv.pixel)
    beanie = S.coverage(dome, cv.pixel) * torch.sigmoid((-ry * 0.38 - y) / 0.008)
    band_y = c["hairline"] + 0.02
    band = S.coverage(S.box(x, y, 0.0, band_y, rx + vol, 0.028, 0.01), cv.pixel) * S.coverage(dome, cv.pixel)
    alpha = torch.maximum(torch.maximum((cap + brim).clamp(max=1) * sel("cap"), beanie * sel("beanie")), band * sel("headband"))
    cv.over(alpha, color)
    ring_alpha = 0
    for side in (-1.0, 1.0):
        ring = S.circle(x, y, side * (rx * 0.98), c["ear_height"] + c["ear_size"] * 0.95, 0.016)
        ring_alpha = ring_alpha + S.coverage(ring, cv.pixel)
    cv.over(ring_alpha.clamp(max=1) * sel("earrings"), torch.tensor([0.95, 0.78, 0.25]).expand(len(rx), 3))


def _blur(img: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Separable Gaussian blur with a per-image sigma (pixels), as a weighted sum of shifts.

    Elementwise arithmetic only, so every image's result is independent of the batch.
    """
    radius = max(1, int(math.ceil(3 * float(sigma.max()))))
    taps = torch.arange(-radius, radius + 1, dtype=torch.float32)
    s = sigma.clamp(min=1e-3).reshape(-1, 1)
    w = torch.exp(-0.5 * (taps / s) ** 2)
    w = w / w.sum(1, keepdim=True)  # (N, taps); sigma ~ 0 gives a delta
    out = img
    for dim in (2, 3):
        pad = [0, 0, 0, 0]
        pad[(3 - dim) * 2: (3 - dim) * 2 + 2] = [radius, radius]
        padded = torch.nn.functional.pad(out, pad, mode="replicate")
        acc = torch.zeros_like(out)
        size = out.shape[dim]
        for i in range(len(taps)):
            acc += padded.narrow(dim, i, size) * w[:, i].reshape(-1, 1, 1, 1)
        out = acc
    return out
