"""The factors of variation of FaceWorld and how they are sampled.

A rendered face is fully described by three groups of factors:

* identity factors, fixed per person (face shape, skin, eyes, brows, nose, mouth, ears, ...);
* session factors, fixed per capture session (hair, facial hair, glasses, make-up,
  headwear, light, background, camera, image quality, clothing);
* frame factors, drawn per image (pose jitter, expression, framing and light jitter);
* drift factors, a person's slow change across sessions (greying, weight): 0 unless the
  session process (``life``) declares drift.

Every factor is declared once in the tables below: a continuous factor has a range
``[low, high]`` (sampled uniformly unless the sampler says otherwise), a categorical factor
has named classes. ``Factors.vector`` stacks all of them into one row per image: continuous
factors rescaled to ``(value - low) / (high - low)`` in [0, 1], categorical factors one-hot.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Continuous:
    """A real-valued factor in ``[low, high]``."""

    name: str
    low: float
    high: float


@dataclass(frozen=True)
class Categorical:
    """A factor with named classes, stored as the class index, drawn with ``weights``
    (relative class frequencies; uniform when empty)."""

    name: str
    classes: tuple[str, ...]
    weights: tuple[float, ...] = ()


IDENTITY_FACTORS: tuple[Continuous | Categorical, ...] = (
    Continuous("face_width", 0.30, 0.40),  # half width of the face, in head units
    Continuous("face_height", 0.40, 0.50),  # half height of the face
    Continuous("jaw_width", 0.55, 1.00),  # width at the chin relative to the cheeks
    Continuous("skin_tone", 0.0, 1.0),  # 0 = dark brown ... 1 = pale
    Continuous("skin_warmth", 0.0, 1.0),  # 0 = olive/cool ... 1 = rosy/warm
    Continuous("eye_size", 0.045, 0.075),
    Continuous("eye_spacing", 0.12, 0.19),  # half distance between the eye centres
    Continuous("eye_height", -0.12, -0.02),  # vertical position of the eyes (up is negative)
    Continuous("eye_tilt", -0.25, 0.25),  # radians, outer corners up for positive values
    Continuous("iris_hue", 0.0, 1.0),  # 0 = dark brown ... 0.5 = green ... 1 = blue
    Continuous("brow_thickness", 0.010, 0.028),
    Continuous("brow_height", 0.045, 0.095),  # above the eye centre
    Continuous("brow_angle", -0.30, 0.30),  # radians
    Continuous("nose_length", 0.10, 0.20),
    Continuous("nose_width", 0.035, 0.075),
    Continuous("mouth_width", 0.09, 0.16),  # half width
    Continuous("mouth_height", 0.17, 0.27),  # vertical position below the face centre
    Continuous("lip_thickness", 0.014, 0.034),
    Continuous("lip_redness", 0.0, 1.0),
    Continuous("ear_size", 0.06, 0.11),
    Continuous("ear_height", -0.05, 0.05),
    Continuous("hairline", -0.40, -0.22),  # where the forehead ends
    Continuous("natural_hair_tone", 0.0, 1.0),  # 0 = black ... 0.7 = blond ... 1 = red
)

HAIRSTYLES = ("buzz", "short", "side_part", "bob", "long", "bun", "curly", "mohawk")
FACIAL_HAIR = ("none", "stubble", "moustache", "goatee", "beard")
GLASSES = ("none", "round", "square", "sunglasses")
HEADWEAR = ("none", "cap", "beanie", "headband", "earrings")
BACKGROUNDS = ("plain", "gradient", "stripes", "blocks", "dots")

SESSION_FACTORS: tuple[Continuous | Categorical, ...] = (
    Categorical("hairstyle", HAIRSTYLES),
    Continuous("hair_dyed", 0.0, 1.0),  # >0.6 means the hair colour below replaces the natural one
    Continuous("hair_r", 0.0, 1.0),
    Continuous("hair_g", 0.0, 1.0),
    Continuous("hair_b", 0.0, 1.0),
    Continuous("hair_volume", 0.0, 1.0),
    Continuous("hair_part", -1.0, 1.0),
    Categorical("facial_hair", FACIAL_HAIR, (4, 1, 1, 1, 1)),
    Categorical("glasses", GLASSES, (5, 2, 2, 1)),
    Continuous("glasses_r", 0.0, 1.0),
    Continuous("glasses_g", 0.0, 1.0),
    Continuous("glasses_b", 0.0, 1.0),
    Continuous("lipstick", 0.0, 1.0),  # strength of the lip colour over the natural lips
    Continuous("lipstick_hue", 0.0, 1.0),
    Continuous("eye_shadow", 0.0, 1.0),
    Continuous("eye_shadow_hue", 0.0, 1.0),
    Continuous("blush", 0.0, 1.0),
    Categorical("headwear", HEADWEAR, (4, 1, 1, 1, 1)),
    Continuous("headwear_hue", 0.0, 1.0),
    Continuous("light_azimuth", -1.2, 1.2),  # radians, positive = light from the image right
    Continuous("light_elevation", -0.4, 0.9),  # radians, positive = from above
    Continuous("light_strength", 0.3, 1.0),
    Continuous("light_temperature", -1.0, 1.0),  # -1 = cold blue ... +1 = warm orange
    Continuous("ambient", 0.35, 0.7),
    Categorical("background", BACKGROUNDS),
    Continuous("background_hue", 0.0, 1.0),
    Continuous("background_hue2", 0.0, 1.0),
    Continuous("background_lightness", 0.15, 0.9),
    Continuous("camera_scale", 1.25, 1.6),  # >1 = closer camera, bigger face
    Continuous("mean_yaw", -0.45, 0.45),  # radians
    Continuous("mean_pitch", -0.25, 0.25),
    Continuous("mean_roll", -0.18, 0.18),
    Continuous("blur", 0.0, 1.0),  # Gaussian blur sigma in pixels at 64 px
    Continuous("noise", 0.0, 0.035),  # std of additive Gaussian pixel noise
    Continuous("clothing_hue", 0.0, 1.0),
    Continuous("clothing_lightness", 0.1, 0.9),
)

FRAME_FACTORS: tuple[Continuous | Categorical, ...] = (
    Continuous("yaw_jitter", -0.12, 0.12),
    Continuous("pitch_jitter", -0.08, 0.08),
    Continuous("roll_jitter", -0.06, 0.06),
    Continuous("smile", -0.3, 1.0),
    Continuous("blink", 0.0, 1.0),  # 1 = eyes closed
    Continuous("mouth_open", 0.0, 1.0),
    Continuous("shift_x", -0.05, 0.05),  # image half-widths
    Continuous("shift_y", -0.05, 0.05),
    Continuous("scale_jitter", -0.04, 0.04),
    Continuous("light_jitter", -0.15, 0.15),
)

GROUPS = {"identity": IDENTITY_FACTORS, "session": SESSION_FACTORS, "frame": FRAME_FACTORS}

DRIFT_FACTORS: tuple[Continuous, ...] = (
    Continuous("hair_grey", 0.0, 1.0),  # natural hair, brows and beard: fraction of the way to grey
    Continuous("weight", -0.15, 0.15),  # relative change of the face's width
)
"""Slow change across a person's stream (the ``life`` process): inputs of the renderer, not in
``GROUPS``, so neither drawn by ``sample_group`` nor in ``Factors.vector`` (the layout the zoo
was trained on); every image of the independent-looks process has them at 0 (:data:`NO_DRIFT`),
which renders exactly as before they existed."""

NO_DRIFT: dict[str, float] = {spec.name: 0.0 for spec in DRIFT_FACTORS}


def _sample_factor(spec: Continuous | Categorical, rng: np.random.Generator) -> float:
    if isinstance(spec, Categorical):
        p = np.asarray(spec.weights or [1.0] * len(spec.classes), dtype=np.float64)
        return float(rng.choice(len(spec.classes), p=p / p.sum()))
    return float(rng.uniform(spec.low, spec.high))


def sample_group(group: str, rng: np.random.Generator) -> dict[str, float]:
    """Draw every factor of ``group`` ("identity", "session" or "frame") in table order.

    Frame expression factors are skewed towards the neutral face: blinks are rare
    (closed eyes in about one frame in eight) and the mouth is mostly closed.
    """
    values = {spec.name: _sample_factor(spec, rng) for spec in GROUPS[group]}
    if group == "frame":
        values["blink"] = float(values["blink"] > 0.88) * rng.uniform(0.7, 1.0)
        values["mouth_open"] = values["mouth_open"] ** 3
    return values


def _columns() -> list[tuple[str, Continuous | Categorical, str]]:
    cols = []
    for group, specs in GROUPS.items():
        for spec in specs:
            if isinstance(spec, Categorical):
                cols += [(group, spec, f"{spec.name}={c}") for c in spec.classes]
            else:
                cols.append((group, spec, spec.name))
    return cols


_COLUMNS = _columns()
FACTOR_NAMES: tuple[str, ...] = tuple(name for _, _, name in _COLUMNS)
IDENTITY_NAMES: tuple[str, ...] = tuple(s.name for s in IDENTITY_FACTORS)


@dataclass
class Factors:
    """The factors of a batch of N rendered images.

    Attributes:
        values: factor name -> (N,) float64 raw values (categoricals as class indices).
    """

    values: dict[str, np.ndarray]

    @property
    def names(self) -> tuple[str, ...]:
        """Column names of ``vector``."""
        return FACTOR_NAMES

    @property
    def vector(self) -> np.ndarray:
        """(N, F) float32: continuous factors as (v - low) / (high - low), categoricals one-hot."""
        cols = []
        for _, spec, name in _COLUMNS:
            raw = self.values[spec.name]
            if isinstance(spec, Categorical):
                cols.append(raw == spec.classes.index(name.split("=", 1)[1]))
            else:
                cols.append((raw - spec.low) / (spec.high - spec.low))
        return np.stack(cols, axis=1).astype(np.float32)

    @property
    def identity(self) -> np.ndarray:
        """(N, n_id) float32: the identity factors, rescaled to [0, 1] like ``vector``."""
        return np.stack(
            [(self.values[s.name] - s.low) / (s.high - s.low) for s in IDENTITY_FACTORS], axis=1
        ).astype(np.float32)

    @property
    def categorical(self) -> dict[str, np.ndarray]:
        """Categorical factor name -> (N,) int64 class indices."""
        return {
            s.name: self.values[s.name].astype(np.int64)
            for specs in GROUPS.values()
            for s in specs
            if isinstance(s, Categorical)
        }

    def __len__(self) -> int:
        return len(next(iter(self.values.values())))

    @staticmethod
    def from_rows(rows: list[dict[str, float]]) -> "Factors":
        """Stack per-image factor dicts into one ``Factors``."""
        return Factors({k: np.array([r[k] for r in rows], dtype=np.float64) for k in rows[0]})
