"""Scenario cards: the YAML files that say which images make a scenario.

A card is found by name among the cards shipped in ``facebench.scenarios`` (the top-level
``scenarios/`` folder) or by path (anything ending in ``.yaml``/``.yml`` or holding a ``/``).
A card's name is its file name without the extension.

A card is validated on load against :class:`CardSchema`, a pydantic model with one field per key
(a section is a nested model; ``source`` is one of :data:`SOURCES`, picked by ``source.kind``, and
each role of ``models`` one of its kinds, :class:`ModelsSection`):
an unknown key, a missing key, a value of the wrong type (strictly: ``true`` is not ``1``) or an
impossible value raises :class:`CardError`, whose message names the file and the key.
Validation fills in defaults; a section whose keys all have defaults may be left out. Numbers are
finite (no ``.nan``, no ``.inf``). A FaceWorld card's sizes have upper bounds (:data:`MOST`) that
keep a person's images, held in memory as float32 tensors, to at most
:data:`MOST_PERSON_BYTES` (1 GiB); a refused size is told with the memory it would take.

A card file is read as YAML (:class:`_Loader`) within limits that plain YAML lacks: at most
:data:`MOST_CARD_BYTES`, no aliases (``*name``: an alias to a nested anchor can expand
exponentially, the "billion laughs"; cards have no use for them), at most :data:`MOST_DEPTH`
levels of nesting, no merge keys (``<<``), integers of at most 20 characters, text without NUL
or lone surrogates, no key given twice in one mapping. Every error is one line, and a value it
quotes is cut to a few dozen characters (:func:`_quote`).

The card hash (:attr:`Card.sha256`) is the sha256 of the canonical JSON of the validated card
(keys sorted, no spaces, UTF-8), so two cards that validate to the same content have the same
hash. Adding a section to the card format is adding one field to :class:`CardSchema`.
"""

from __future__ import annotations

import hashlib
import json
import re
import reprlib
from collections.abc import Hashable
from dataclasses import dataclass, fields
from importlib.resources import files
from pathlib import Path
from types import UnionType
from typing import Annotated, Literal, Union, get_args, get_origin

import yaml
from pydantic import (BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, create_model, model_serializer,
                      model_validator)
from pydantic.fields import FieldInfo

from facebench.errors import FacebenchError
from facebench.protocol import Protocol

Number = int | float
"""A real-valued setting; an integer stays one (``1``, not ``1.0``), so it hashes as written."""


class _Section(BaseModel):
    """A part of a card: unknown keys refused, strict types, finite numbers, left-out keys given
    their defaults."""

    model_config = ConfigDict(
        extra="forbid", strict=True, validate_default=True, allow_inf_nan=False
    )


MOST = {"persons": 1000, "sessions": 100, "train_per_session": 1000, "test_per_session": 1000}
"""The most of each size of a FaceWorld card; the reference protocol has 5 persons x 10 sessions x
(20 + 20) images. Each person is a run of its own; a run scores every seen session after each
session (sessions x (sessions + 1) / 2 session scorings); 1000 images of 256 px take 750 MiB."""

MOST_PERSON_BYTES = 2**30
"""The most memory a person's images may take as float32 tensors (3 x side**2 x 4 bytes each):
a scenario keeps the last 8 persons read in memory, so at most 8 GiB."""

MOST_CARD_BYTES = 16 * 2**10
"""The largest card file: a card is a few hundred bytes, and PyYAML reads a dense one (a long
flow list) at about 40 KiB/s."""

MOST_DEPTH = 16
"""The most levels of nesting in a card's YAML (a card has 2)."""


POSE_LIMITS = {"yaw": 0.57, "pitch": 0.33, "roll": 0.24, "light": 0.15}
"""The most swing (radians) a life card's ``video`` may ask: what the FaceWorld renderer draws
(``faceworld.life.pose_limit``; for the light, the frame table's ``light_jitter`` bound)."""

MOST_REPERTOIRE = 20
"""The most looks or places in a life card's repertoire."""


def _probability(description: str):
    return Field(ge=0, le=1, description=description)


class _LifePart(_Section):
    """A part of the ``life`` section: frozen, so that a source holding it can be hashed."""

    model_config = ConfigDict(frozen=True)


class ChainSection(_LifePart):
    """A sticky chain over a repertoire (``faceworld.life.Chain``)."""

    keep: Number = _probability("probability that a session keeps the previous session's item")
    back: Number = _probability("probability that it comes back to an earlier-used other item")
    new: Number = _probability("probability that it takes an item not used before")

    @model_validator(mode="after")
    def _sums_to_one(self):
        if abs(self.keep + self.back + self.new - 1) > 1e-9:
            raise ValueError(f"keep + back + new must be 1; got {self.keep + self.back + self.new:.6g}")
        return self


class WearSection(_LifePart):
    """Per session, the probability that each of the person's things is worn."""

    glasses: Number = _probability("a session's probability of glasses")
    makeup: Number = _probability("of make-up (lipstick, eye shadow, blush)")
    headwear: Number = _probability("of the person's headwear (a cap, beanie, headband or earrings)")


class DriftSection(_LifePart):
    """The most change over a stream, reached at its last session (a person draws its own
    amount up to it)."""

    greying: Number = Field(ge=0, le=1, description="fraction of the way to grey of the natural hair")
    weight: Number = Field(ge=0, le=0.15, description="relative change of the face's width, either way")


class VideoSection(_LifePart):
    """Half-ranges of the frame-to-frame swing within a session, in radians."""

    yaw: Number = Field(ge=0, le=POSE_LIMITS["yaw"], description="head turn around the place's camera direction")
    pitch: Number = Field(ge=0, le=POSE_LIMITS["pitch"], description="nod")
    roll: Number = Field(ge=0, le=POSE_LIMITS["roll"], description="tilt")
    light: Number = Field(ge=0, le=POSE_LIMITS["light"], description="the light's azimuth")


class LifeSection(_LifePart):
    """FaceWorld's life session process (``facebench.data.faceworld.life``): a person's
    repertoire of looks and places, the chains that pick them, what is worn, drift, video."""

    looks: int = Field(ge=1, le=MOST_REPERTOIRE, description="hair looks in a person's repertoire")
    places: int = Field(ge=1, le=MOST_REPERTOIRE, description="recurring places: backdrop, light and camera")
    look_chain: ChainSection = Field(description="how a session's hair look follows the previous one")
    place_chain: ChainSection = Field(description="how a session's place follows the previous one")
    wear: WearSection = Field(description="what is worn in a session")
    drift: DriftSection = Field(description="slow change across the stream")
    video: VideoSection = Field(description="variation within a session")


class FaceWorldSource(_Section):
    """Persons rendered by FaceWorld; with a ``life`` section, their sessions drawn by the life
    process, else each session's look drawn on its own. A card without ``life`` validates to
    the same data (and hash) as before the section existed."""

    kind: Literal["faceworld"]
    world_seed: int = Field(ge=0, description="another seed gives other persons")
    persons: int = Field(ge=1, le=MOST["persons"], description="persons '0' .. 'persons-1'")
    sessions: int = Field(
        ge=1, description=f"sessions per person, in stream order; at most {MOST['sessions']}"
    )
    train_per_session: int = Field(
        ge=1, description=f"training images per session; at most {MOST['train_per_session']}"
    )
    test_per_session: int = Field(
        ge=1, description=f"test images per session; at most {MOST['test_per_session']}"
    )
    life: LifeSection | None = Field(None, description="the life session process (default: none)")

    @model_serializer(mode="wrap")
    def _without_absent_life(self, handler):
        data = handler(self)
        if self.life is None:
            del data["life"]
        return data


class FolderSource(_Section):
    """Photos in a folder."""

    kind: Literal["folder"]
    root: str = Field(
        description="root/<person>/<session>/{train,test}/*.{png,jpg,jpeg,webp}, "
        "relative to the card's folder"
    )
    on_bad_image: Literal["error", "skip"] = Field(
        "error", description="an unreadable image is an error, or is left out with a warning"
    )


SOURCES: dict[str, type[_Section]] = {"faceworld": FaceWorldSource, "folder": FolderSource}
"""The source kinds: value of ``source.kind`` -> its model."""

_LOWEST = {"batch_replay": 0, "lr": 0.0, "l2_weight": 0.0, "inversion_lr": 0.0, "eval_steps": 0, "eval_warm_steps": 0}
"""The least value of a numeric protocol setting, where it is not 1."""


def _setting(f) -> tuple:
    """The card field of the ``Protocol`` setting ``f``: its type (a float setting takes any
    number), its default and its least value."""
    kind = Number if type(f.default) is float else type(f.default)
    return kind, Field(f.default, ge=_LOWEST.get(f.name, 1), description=f"see Protocol.{f.name}")


ProtocolSection = create_model("ProtocolSection", __base__=_Section, **{f.name: _setting(f) for f in fields(Protocol)})
"""The ``protocol`` section: one field per ``facebench.protocol.Protocol`` setting, its default
the protocol's."""

RETIRED_STOCK_HASHES: dict[str, dict[str, int]] = {
    "faceworld": {"bc8d21e80f558d10746611c2ef00f3b3aeb3e6ddf3fc29cda4a0c8bab123a7d4": 1},
    "faceworld-quick": {"891f2f338b43b0f088f988a77479aa5f181d88d94700ce8a0f90aab6b1f2531b": 1},
}
"""Earlier hashes of stock cards: name -> {hash: the protocol version it was the card's hash
under}. A stock card's hash includes its protocol section with every default filled in, so a
new protocol version gives the same card file a new hash; a result file of an earlier version
keeps the hash it was run with."""


FACEWORLD = "faceworld"
"""The kind of a model role that is the shipped zoo's (``facebench.models.zoo``)."""


class ZooModel(_Section):
    """The shipped FaceWorld model of the role, at the card's resolution."""

    kind: Literal["faceworld"]


class _UserFile(_Section):
    """A model file the user brings."""

    path: str = Field(description="the file, relative to the card's folder (~ is the home folder)")
    sha256: str | None = Field(
        None, pattern=r"^[0-9a-f]{64}$", description="its sha256 in hex; given, a file that differs is refused"
    )


class StyleGAN2Model(_UserFile):
    """A StyleGAN2 checkpoint in the layout of rosinality's PyTorch port (``facebench.models.byo.stylegan2``)."""

    kind: Literal["stylegan2-rosinality"]


class E4EModel(_UserFile):
    """An e4e (or pSp) encoder checkpoint (``facebench.models.byo.e4e``)."""

    kind: Literal["e4e"]


class MeanLatentModel(_Section):
    """No encoder: every inversion starts at the generator's mean latent."""

    kind: Literal["mean-latent"]


class LPIPSModel(_Section):
    """LPIPS (the ``lpips`` package) on the named torchvision backbone (``facebench.models.byo.lpips_distance``)."""

    kind: Literal["lpips"]
    net: Literal["vgg", "alex"] = Field(description="the backbone: vgg (VGG16) or alex (AlexNet)")


class DlibModel(_Section):
    """dlib's ResNet face descriptor (``facebench.models.dlib_identity``; the ``photos`` extra)."""

    kind: Literal["dlib"]


class ArcFaceModel(_UserFile):
    """An ArcFace backbone in insightface's iresnet layout (``facebench.models.byo.arcface``)."""

    kind: Literal["arcface-iresnet"]
    layers: Literal[18, 34, 50, 100] = Field(description="its depth: iresnet18, 34, 50 or 100")


def _by_kind(value):
    """A role given by its kind alone (``identity: dlib``) as the mapping it stands for."""
    return {"kind": value} if isinstance(value, str) else value


def _role(*variants: type[_Section], description: str):
    """The type of a model role: one of ``variants``, picked by ``kind``, or the kind alone."""
    kinds = ", ".join(get_args(variant.model_fields["kind"].annotation)[0] for variant in variants)
    return Annotated[Union[variants], BeforeValidator(_by_kind),
                     Field(discriminator="kind", description=f"{description}: {kinds}")]


class ModelsSection(_Section):
    """The ``models`` section: for each role, the shipped FaceWorld model (``faceworld``, the
    default) or the user's. A role may be written as its kind alone where that kind has no other
    key (``identity: dlib``). The FaceWorld encoder belongs to the FaceWorld generator, the
    others to a user's generator."""

    generator: _role(ZooModel, StyleGAN2Model, description="the generic generator G0") = {"kind": FACEWORLD}
    encoder: _role(ZooModel, E4EModel, MeanLatentModel, description="where every inversion starts") = {
        "kind": FACEWORLD}
    perceptual: _role(ZooModel, LPIPSModel, description="the perceptual distance (the LPIPS role)") = {
        "kind": FACEWORLD}
    identity: _role(ZooModel, DlibModel, ArcFaceModel, description="the identity network (the ArcFace role)") = {
        "kind": FACEWORLD}

    @model_validator(mode="after")
    def _encoder_fits_generator(self):
        zoo_generator, zoo_encoder = self.generator.kind == FACEWORLD, self.encoder.kind == FACEWORLD
        if zoo_generator and not zoo_encoder:
            raise ValueError(f"the encoder '{self.encoder.kind}' needs a user's generator (stylegan2-rosinality); "
                             "the faceworld generator's encoder is faceworld")
        if zoo_encoder and not zoo_generator:
            raise ValueError("the faceworld encoder maps into the faceworld generator's W only: with a "
                             f"'{self.generator.kind}' generator, the encoder is e4e or mean-latent")
        return self


ROLES = tuple(ModelsSection.model_fields)
"""The model roles, in the order they load (a user's encoder reads its generator)."""


class CardSchema(_Section):
    """The card format: every key a card may have, with its default where it has one. A card
    whose every model role is FaceWorld's validates without ``models`` (the hash of a card
    written before the section existed)."""

    description: str = Field("", description="one line shown by `facebench scenarios`")
    resolution: int = Field(64, ge=32, le=256, description="image side in pixels")
    source: Union[tuple(SOURCES.values())] = Field(
        {}, discriminator="kind", description="where the images come from; kind says which keys"
    )
    protocol: ProtocolSection = Field({}, description="settings over Protocol's defaults")
    models: ModelsSection = Field({}, description="the generic models, by role (default: FaceWorld's)")

    @model_serializer(mode="wrap")
    def _without_zoo_models(self, handler):
        data = handler(self)
        if all(data["models"][role]["kind"] == FACEWORLD for role in ROLES):
            del data["models"]
        return data


CARD_SUFFIXES = (".yaml", ".yml")

_WORDS = {int: "an integer", Number: "a finite number", str: "a string"}
_UNKNOWN_KEY = ("extra_forbidden", "invalid_key")  # pydantic's errors for a key not in the format
_NAME = re.compile(r"[\w-]{1,40}")
"""A key an error names as written; any other key is named by its :func:`_quote`."""
_NOT_TEXT = re.compile("[\x00\ud800-\udfff]")
"""What a YAML escape can put in a string but UTF-8 text cannot hold: NUL, a lone surrogate."""
_CUT = reprlib.Repr()  # a repr cut inside a value: long strings, lists, mappings, deep nesting
_CUT.maxstring = _CUT.maxother = 40
_CUT.maxlist = _CUT.maxdict = _CUT.maxset = _CUT.maxfrozenset = 4
_CUT.maxlevel = 2


def _quote(value) -> str:
    """What an error quotes of a value: its repr, on one line, cut to at most 60 characters."""
    return _cut(_CUT.repr(value), 60)


def _cut(text: str, most: int) -> str:
    """``text`` cut to ``most`` characters, the last three of a cut text '...'."""
    return text if len(text) <= most else text[: most - 3] + "..."


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading exponent numbers without a dot (``3e-4``) as floats, as
    YAML 1.2 does (PyYAML's YAML 1.1 reads them as strings), and refusing what a card has no use
    for (module doc): an alias or a merge key (``<<``), nesting deeper than :data:`MOST_DEPTH`,
    an integer of more than 20 characters (PyYAML computes ``1:2:3:...`` in base 60 with no
    bound), a string holding NUL or a lone surrogate, a key given twice in one mapping (PyYAML
    would keep the last value silently). A value PyYAML's constructors fail on (``2001-02-30``,
    ``!!bool x``) is a ``ConstructorError`` at its line. ``depth``: how many nodes enclose the one
    being composed."""

    def __init__(self, stream):
        super().__init__(stream)
        self.depth = 0

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "an alias (*name) is not allowed in a card: write the value out",
                event.start_mark)
        if self.depth == MOST_DEPTH:
            raise yaml.composer.ComposerError(
                None, None, f"nested more than {MOST_DEPTH} levels deep", event.start_mark)
        self.depth += 1
        node = super().compose_node(parent, index)
        self.depth -= 1
        return node

    def construct_object(self, node, deep=False):
        try:
            return super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except Exception as error:  # PyYAML's constructors fail in many ways on odd values
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read this value: {error}", node.start_mark) from None

    def construct_scalar(self, node):
        value = super().construct_scalar(node)
        if _NOT_TEXT.search(value):
            raise yaml.constructor.ConstructorError(
                None, None, "a string holding NUL or a lone surrogate (\\ud800-\\udfff) is not "
                "text", node.start_mark)
        return value

    def construct_yaml_int(self, node):
        if len(self.construct_scalar(node).replace("_", "")) > 20:
            raise yaml.constructor.ConstructorError(
                None, None, "an integer of more than 20 characters", node.start_mark)
        return super().construct_yaml_int(node)

    def construct_mapping(self, node, deep=False):
        seen = set()
        pairs = node.value if isinstance(node, yaml.MappingNode) else ()  # else PyYAML's error
        for key_node, _ in pairs:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise yaml.constructor.ConstructorError(
                    None, None, "a merge key (<<) is not allowed in a card", key_node.start_mark)
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                break  # PyYAML's construct_mapping refuses it
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {_quote(key)} is given twice in one mapping",
                    key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$"), list("-+0123456789")
)
_Loader.add_constructor("tag:yaml.org,2002:int", _Loader.construct_yaml_int)


class CardError(FacebenchError):
    """A card that cannot be found, read or validated; ``path`` and ``key`` say where."""

    def __init__(self, path: Path | None, key: str, problem: str):
        self.path, self.key = path, key
        where = [str(part) for part in (path, key) if part]
        super().__init__(": ".join(where + [problem]))


@dataclass(frozen=True)
class Card:
    """A validated scenario card: where it is and its content, defaults filled in."""

    path: Path
    data: dict

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def sha256(self) -> str:
        canonical = json.dumps(self.data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def stock_cards() -> dict[str, Path]:
    """The cards shipped with facebench, by name, in name order."""
    paths = [Path(str(entry)) for entry in files("facebench.scenarios").iterdir()]
    cards = [path for path in paths if path.suffix in CARD_SUFFIXES]
    return {path.stem: path for path in sorted(cards, key=lambda path: path.stem)}


def card_path(name_or_path: str | Path) -> Path:
    """The card file of a stock card name or of a path to a card."""
    text = str(name_or_path)
    if text.endswith(CARD_SUFFIXES) or "/" in text:
        path = Path(text).expanduser().resolve()
        if not path.is_file():
            raise CardError(path, "", "no such card file")
        return path
    stock = stock_cards()
    if text not in stock:
        raise CardError(
            None, "", f"unknown scenario '{text}' (stock cards: {', '.join(stock)}; "
            "or give the path of a .yaml card)"
        )
    return stock[text]


def load_card(name_or_path: str | Path) -> Card:
    """Find, read and validate a card."""
    path = card_path(name_or_path)
    try:
        with path.open("rb") as file:
            content = file.read(MOST_CARD_BYTES + 1)
        if len(content) > MOST_CARD_BYTES:
            raise CardError(path, "", f"too large: a card is at most {MOST_CARD_BYTES >> 10} KiB")
        text = content.decode("utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise CardError(path, "", f"cannot read the card: {error}") from None
    try:
        raw = yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as error:
        raise CardError(path, "", f"not valid YAML{_yaml_problem(error, text)}") from None
    try:
        data = CardSchema.model_validate({} if raw is None else raw).model_dump()
    except ValidationError as error:
        raise _card_error(path, error) from None
    _check_size(path, data)
    return Card(path, data)


def _yaml_problem(error: yaml.YAMLError, text: str) -> str:
    """Where and what PyYAML found wrong in ``text``, on one line: ' at line 3: found ...'."""
    if isinstance(error, yaml.reader.ReaderError):  # a character YAML does not allow
        line = text.count("\n", 0, error.position) + 1
        return f" at line {line}: character #x{error.character:04x} is not allowed"
    where = f" at line {error.problem_mark.line + 1}" if error.problem_mark else ""
    return f"{where}: {_cut(' '.join(str(error.problem).split()), 100)}"  # on one line


def _check_size(path: Path, data: dict) -> None:
    """Refuse a validated FaceWorld card with a size over :data:`MOST` or whose person's images
    would take more than :data:`MOST_PERSON_BYTES`, telling the memory the size would take."""
    source, side = data["source"], data["resolution"]
    if source["kind"] != "faceworld":
        return
    image_bytes = 3 * side * side * 4
    per_session = source["train_per_session"] + source["test_per_session"]
    per_person = source["sessions"] * per_session
    for key, images in (
        ("sessions", per_person),
        ("train_per_session", source["train_per_session"]),
        ("test_per_session", source["test_per_session"]),
    ):
        if source[key] > MOST[key]:
            of = f"{source[key]} sessions of {per_session}" if key == "sessions" else str(images)
            raise CardError(
                path, f"source.{key}", f"at most {MOST[key]}; got {source[key]} ({of} images of "
                f"{side} px take {_gib(images * image_bytes)} as float32)"
            )
    if per_person * image_bytes > MOST_PERSON_BYTES:
        raise CardError(
            path, "source", f"a person's images take at most {_gib(MOST_PERSON_BYTES)} as float32, "
            f"{MOST_PERSON_BYTES // image_bytes} images of {side} px; these are {per_person} "
            f"({source['sessions']} sessions x {per_session}), {_gib(per_person * image_bytes)}: "
            "fewer sessions or images, or a lower resolution"
        )


def _gib(size: int) -> str:
    """A number of bytes in GiB, to 3 significant digits: '4.58 GiB'."""
    return f"{size / 2**30:.3g} GiB"


def _card_error(path: Path, error: ValidationError) -> CardError:
    """The first problem of a card that fails validation: an unknown key before an impossible
    value before a wrong type (so a number's ``.nan`` is told as not finite, not as not an
    integer, the other of ``int | float``)."""
    first = min(error.errors(), key=_rank)
    kind, value = first["type"], first["input"]
    key, field, section = _locate(first["loc"])
    if kind in _UNKNOWN_KEY:
        problem = f"unknown key (known here: {', '.join(section.model_fields)})"
    elif kind == "union_tag_not_found":  # no kind in a section of variants (source, a model role)
        key, problem = f"{key}.kind", f"missing (one of: {', '.join(_variants(field))})"
    elif kind == "union_tag_invalid":  # a kind that names no variant
        key = f"{key}.kind"
        problem = f"must be one of {', '.join(_variants(field))}; got {_quote(value['kind'])}"
    elif kind == "missing":
        problem = f"missing ({_describe(field)})"
    elif kind == "value_error":  # a rule between keys (ChainSection's sum)
        problem = str(first["ctx"]["error"])
    elif kind.endswith("_type"):
        problem = f"expected {_describe(field)}, got {_quote(value)}"
    else:
        problem = f"must be {_describe(field)}; got {_quote(value)}"
    return CardError(path, key, problem)


def _rank(problem: dict) -> int:
    """The order in which :func:`_card_error` tells problems: unknown key, value, type."""
    if problem["type"] in _UNKNOWN_KEY:
        return 0
    return 2 if problem["type"].endswith("_type") else 1


def _locate(loc: tuple) -> tuple[str, FieldInfo | None, type[BaseModel] | None]:
    """Where a pydantic error location points in the card: the dotted key, its field (None: the
    whole card, or a key not in the format) and the section holding that key."""
    section, field, keys = CardSchema, None, []
    parts = iter(loc)
    for part in parts:
        if not hasattr(section, "model_fields"):  # past a value: the rest names its type's members
            break
        field = section.model_fields.get(part)
        keys.append(part if isinstance(part, str) and _NAME.fullmatch(part) else _quote(part))
        if field is None:
            break
        # after a field with variants comes the variant's tag, which is no key of the card
        section = _variants(field).get(next(parts, None)) if field.discriminator else _section_of(field.annotation)
    return ".".join(keys), field, section


def _variants(field: FieldInfo) -> dict[str, type[BaseModel]]:
    """The variants of a field picked by ``kind`` (``source``, a model role): kind -> its section."""
    return {get_args(variant.model_fields["kind"].annotation)[0]: variant for variant in get_args(field.annotation)}


def _section_of(annotation):
    """The type whose keys follow a field's: X of an optional section ``X | None``, else the
    field's own type."""
    members = [member for member in get_args(annotation) if member is not type(None)]
    optional = get_origin(annotation) in (Union, UnionType) and len(members) == 1
    return members[0] if optional else annotation


def _describe(field: FieldInfo | None) -> str:
    """What a field accepts, in words: 'an integer from 32 to 256', "one of 'error', 'skip'",
    'a mapping' (a section, or the whole card: ``None``)."""
    if field is None:
        return "a mapping"
    if get_origin(field.annotation) is Literal:
        return "one of " + ", ".join(repr(choice) for choice in get_args(field.annotation))
    words = _WORDS.get(_section_of(field.annotation), "a mapping")
    pattern = next((rule.pattern for rule in field.metadata if getattr(rule, "pattern", None)), None)
    if pattern is not None:
        return f"{words} matching {pattern}"
    low = next((bound.ge for bound in field.metadata if hasattr(bound, "ge")), None)
    high = next((bound.le for bound in field.metadata if hasattr(bound, "le")), None)
    if high is not None:
        return f"{words} from {low} to {high}"
    if low is not None:
        return f"{words} >= {low}"
    return words
