"""FaceWorld-life: a session process with the structure of a person's real photo history.

What it models (the paper's data, and the source of every parameter of the ``faceworld-life``
cards; docs/faceworld-life.md gives the numbers and why): a public person's videos
(interviews, talk shows, concerts) over several years, one session per video, about one every
few months. Across sessions looks recur: a haircut is kept for a run of sessions, sometimes
an earlier one comes back; glasses, make-up and a hat are worn on some occasions and not on
others; the person is filmed in a few recurring places (a home set, a studio, a stage), each
with its own backdrop, light and camera. Over the years hair greys and weight changes,
slowly. Within one video the head turns, nods and tilts, the expression changes and the
light moves, frame to frame.

The process, for person p of world seed W in domain d (all draws from ``seeded(W, d, p, 3, ...)``,
keys below after the 3; frames from the frame key (d, p, 2, s, f) as in the default process):

Repertoire, drawn once per person:

* ``looks`` hair looks, look k (key (0, k)): the :data:`LOOK_FACTORS` of one draw of the
  session table: hairstyle, dye and colour, volume, part, facial hair;
* ``places`` places, place k (key (1, k)): the :data:`PLACE_FACTORS` of one draw of the
  session table (light, backdrop, camera distance and quality) and its camera direction, the
  pose centre: the table's ``mean_yaw`` (pitch, roll) scaled by (limit - amplitude) / bound, so
  that centre + the video's swing stays within the renderer's pose limits (:func:`pose_limit`);
* the person's things (key (2,)): a pair of glasses and a headwear (a class other than "none",
  by the table's weights, with the drawn colours), a make-up (lipstick, eye shadow, blush at
  strength 0.5 + 0.5 x the table draw, so that worn make-up shows), and the drift amounts:
  greying g ~ U(0, drift.greying), weight change w ~ U(-drift.weight, drift.weight).

Sessions (key (3, s): first 4 uniforms for the chains, then 3 for the things, then one draw of
the session table, of which the clothing is kept):

* the look and the place each follow a sticky chain (:class:`Chain`) over their repertoire:
  session 0 has item 0; at session s >= 1 the previous item is kept with probability ``keep``,
  an earlier-used other item comes back (uniformly among them) with probability ``back``, the
  next unused item is taken with probability ``new``. A new move with the repertoire used up
  is a back move; a back move with no other used item keeps;
* each thing is worn with its probability in ``wear``, independently per session (not worn:
  glasses and headwear "none", make-up strengths 0);
* clothing is drawn anew each session;
* drift: hair_grey = g x f and weight = w x f at session s, f = min(s / (sessions - 1), 1)
  (0 for a one-session stream): none at the first session, all of it at the last.

Frames, video-like (after the frame table's draws, which give expression, blinks and framing;
then 4 uniforms u in [-1, 1], then the pixel noise): yaw = centre + video.yaw x u_1, pitch and
roll likewise, light azimuth + video.light x u_4. A frame's pose is written as ``mean_*``
(clipped to its table's range) plus ``*_jitter`` (the rest), so every factor stays within its
table's range and the renderer draws centre + swing.

Identity factors are the person's, as in the default process: a person differs across
sessions by looks, place, things, clothing, frame and drift only.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .factors import GROUPS, Categorical, sample_group
from .world import SessionProcess, seeded

LOOK_FACTORS = ("hairstyle", "hair_dyed", "hair_r", "hair_g", "hair_b", "hair_volume", "hair_part", "facial_hair")
PLACE_FACTORS = ("light_azimuth", "light_elevation", "light_strength", "light_temperature", "ambient",
                 "background", "background_hue", "background_hue2", "background_lightness", "camera_scale",
                 "mean_yaw", "mean_pitch", "mean_roll", "blur", "noise")
CLOTHING_FACTORS = ("clothing_hue", "clothing_lightness")
MAKEUP_FACTORS = ("lipstick", "eye_shadow", "blush")
POSE_AXES = ("yaw", "pitch", "roll")
_LIFE_KEY = 3
_LOOK, _PLACE, _THINGS, _SESSION = range(4)
_SPECS = {spec.name: spec for specs in GROUPS.values() for spec in specs}


def pose_limit(axis: str) -> float:
    """The largest |angle| (radians) of ``axis`` the renderer draws: the bounds of the session
    table's ``mean_<axis>`` plus the frame table's ``<axis>_jitter`` (both symmetric)."""
    return _SPECS[f"mean_{axis}"].high + _SPECS[f"{axis}_jitter"].high


@dataclass(frozen=True)
class Chain:
    """A sticky chain over a repertoire: probabilities of keeping the previous item, of coming
    back to an earlier-used other item, of taking a new one (they sum to 1)."""

    keep: float
    back: float
    new: float

    def step(self, current: int, used: int, size: int, move: float, pick: float) -> tuple[int, int]:
        """The next (item, number of items used so far) from ``current`` with ``used`` of
        ``size`` items used; ``move`` and ``pick`` are uniforms in [0, 1) (module doc)."""
        if move >= self.keep + self.back and used < size:
            return used, used + 1
        others = [item for item in range(used) if item != current]
        if move >= self.keep and others:
            return others[int(pick * len(others))], used
        return current, used


@dataclass(frozen=True)
class Wear:
    """Per session, the probability that each of the person's things is worn."""

    glasses: float
    makeup: float
    headwear: float


@dataclass(frozen=True)
class Drift:
    """The most change over a stream: greying (fraction of the way to grey of the natural hair,
    in [0, 1]) and weight (relative change of the face's width, either way)."""

    greying: float
    weight: float


@dataclass(frozen=True)
class Video:
    """Half-ranges of the frame-to-frame variation within a session: yaw, pitch, roll
    (radians, around the place's camera direction) and the light's azimuth (radians)."""

    yaw: float
    pitch: float
    roll: float
    light: float


@dataclass(frozen=True)
class Life(SessionProcess):
    """The life process (module doc) of streams of ``sessions`` sessions."""

    sessions: int
    looks: int
    places: int
    look_chain: Chain
    place_chain: Chain
    wear: Wear
    drift: Drift
    video: Video

    @classmethod
    def from_card(cls, section: dict, sessions: int) -> "Life":
        """The process of a card's validated ``source.life`` section, for ``sessions`` sessions."""
        parts = {"look_chain": Chain, "place_chain": Chain, "wear": Wear, "drift": Drift, "video": Video}
        return cls(sessions=sessions, **{key: parts[key](**value) if key in parts else value
                                         for key, value in section.items()})

    def session(self, world_seed: int, domain: int, person: int, session: int) -> dict[str, float]:
        return _session(self, world_seed, domain, person, session)

    def frame(self, session: dict[str, float], rng: np.random.Generator) -> dict[str, float]:
        values = sample_group("frame", rng)
        swing = rng.uniform(-1.0, 1.0, 4)
        for axis, u in zip(POSE_AXES, swing):
            total = session[f"mean_{axis}"] + getattr(self.video, axis) * u
            bound = _SPECS[f"mean_{axis}"].high
            values[f"mean_{axis}"] = float(np.clip(total, -bound, bound))
            values[f"{axis}_jitter"] = total - values[f"mean_{axis}"]
        values["light_jitter"] = self.video.light * swing[3]
        return values


@dataclass(frozen=True)
class _Repertoire:
    looks: tuple[dict[str, float], ...]
    places: tuple[dict[str, float], ...]
    things: dict[str, float]
    greying: float
    weight: float


def _subset(values: dict[str, float], names: tuple[str, ...]) -> dict[str, float]:
    return {name: values[name] for name in names}


def _other_class(name: str, rng: np.random.Generator) -> float:
    """A class of the categorical factor ``name`` other than its first ("none"), by its weights."""
    spec = _SPECS[name]
    assert isinstance(spec, Categorical)
    weights = np.asarray(spec.weights[1:] or [1.0] * (len(spec.classes) - 1), dtype=np.float64)
    return float(1 + rng.choice(len(weights), p=weights / weights.sum()))


@lru_cache(maxsize=1024)
def _repertoire(life: Life, world_seed: int, domain: int, person: int) -> _Repertoire:
    key = (world_seed, domain, person, _LIFE_KEY)
    looks = tuple(_subset(sample_group("session", seeded(*key, _LOOK, k)), LOOK_FACTORS)
                  for k in range(life.looks))
    places = []
    for k in range(life.places):
        place = _subset(sample_group("session", seeded(*key, _PLACE, k)), PLACE_FACTORS)
        for axis in POSE_AXES:
            bound = _SPECS[f"mean_{axis}"].high
            place[f"mean_{axis}"] *= (pose_limit(axis) - getattr(life.video, axis)) / bound
        places.append(place)
    rng = seeded(*key, _THINGS)
    things = sample_group("session", rng)
    things.update(glasses=_other_class("glasses", rng), headwear=_other_class("headwear", rng))
    things.update({name: 0.5 + 0.5 * things[name] for name in MAKEUP_FACTORS})
    greying = rng.uniform(0.0, life.drift.greying)
    weight = rng.uniform(-life.drift.weight, life.drift.weight)
    kept = LOOK_FACTORS + PLACE_FACTORS + CLOTHING_FACTORS
    return _Repertoire(looks, tuple(places), {k: v for k, v in things.items() if k not in kept}, greying, weight)


@lru_cache(maxsize=65536)
def _path(life: Life, world_seed: int, domain: int, person: int, session: int) -> tuple[int, int]:
    """(look, place) of ``session``: the two chains run from session 0."""
    look, looks_used, place, places_used = 0, 1, 0, 1
    for t in range(1, session + 1):
        move_look, pick_look, move_place, pick_place = seeded(
            world_seed, domain, person, _LIFE_KEY, _SESSION, t).random(4)
        look, looks_used = life.look_chain.step(look, looks_used, life.looks, move_look, pick_look)
        place, places_used = life.place_chain.step(place, places_used, life.places, move_place, pick_place)
    return look, place


@lru_cache(maxsize=65536)
def _session(life: Life, world_seed: int, domain: int, person: int, session: int) -> dict[str, float]:
    rep = _repertoire(life, world_seed, domain, person)
    look, place = _path(life, world_seed, domain, person, session)
    rng = seeded(world_seed, domain, person, _LIFE_KEY, _SESSION, session)
    rng.random(4)  # the chains' draws (_path)
    glasses, makeup, headwear = rng.random(3) < (life.wear.glasses, life.wear.makeup, life.wear.headwear)
    clothing = _subset(sample_group("session", rng), CLOTHING_FACTORS)
    things = dict(rep.things)
    things["glasses"] *= glasses
    things["headwear"] *= headwear
    things.update({name: things[name] * makeup for name in MAKEUP_FACTORS})
    progress = min(session / (life.sessions - 1), 1.0) if life.sessions > 1 else 0.0
    drift = {"hair_grey": rep.greying * progress, "weight": rep.weight * progress}
    return {**rep.looks[look], **rep.places[place], **things, **clothing, **drift}
