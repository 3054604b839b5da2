"""Scenario cards: the YAML files that say which images make a scenario.

A card is found by name among the cards shipped in ``facebench.scenarios`` (the top-level
``scenarios/`` folder) or by path (anything ending in ``.yaml``/``.yml`` or holding a ``/``).
A card's name is its file name without the extension.

A card is validated on load against :class:`CardSchema`, a pydantic model with one field per key
(a section is a nested model; ``source`` is one of :data:`SOURCES`, picked by ``source.kind``):
an unknown key, a missing key, a value of the wrong type (strictly: ``true`` is not ``1``) or an
impossible value raises :class:`CardError`, whose message names the file and the key.
Validation fills in defaults; a section whose keys all have defaults may be left out. The card
hash (:attr:`Card.sha256`) is the sha256 of the canonical JSON of the validated card (keys
sorted, no spaces, UTF-8), so two cards that validate to the same content have the same hash.
Adding a section to the card format is adding one field to :class:`CardSchema`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, fields
from importlib.resources import files
from pathlib import Path
from typing import Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model
from pydantic.fields import FieldInfo

from facebench.errors import FacebenchError
from facebench.protocol import Protocol

Number = int | float
"""A real-valued setting; an integer stays one (``1``, not ``1.0``), so it hashes as written."""


class _Section(BaseModel):
    """A part of a card: unknown keys refused, strict types, left-out keys given their defaults."""

    model_config = ConfigDict(extra="forbid", strict=True, validate_default=True)


class FaceWorldSource(_Section):
    """Persons rendered by FaceWorld."""

    kind: Literal["faceworld"]
    world_seed: int = Field(ge=0, description="another seed gives other persons")
    persons: int = Field(ge=1, description="persons '0' .. 'persons-1'")
    sessions: int = Field(ge=1, description="sessions per person, in stream order")
    train_per_session: int = Field(ge=1, description="training images per session")
    test_per_session: int = Field(ge=1, description="test images per session")


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

_LOWEST = {"batch_replay": 0, "lr": 0.0, "l2_weight": 0.0, "inversion_lr": 0.0, "eval_steps": 0}
"""The least value of a protocol setting, where it is not 1."""

ProtocolSection = create_model(
    "ProtocolSection",
    __base__=_Section,
    **{
        f.name: (
            Number if type(f.default) is float else type(f.default),
            Field(f.default, ge=_LOWEST.get(f.name, 1), description=f"see Protocol.{f.name}"),
        )
        for f in fields(Protocol)
    },
)
"""The ``protocol`` section: one field per ``facebench.protocol.Protocol`` setting, its default
the protocol's."""


class CardSchema(_Section):
    """The card format: every key a card may have, with its default where it has one."""

    description: str = Field("", description="one line shown by `facebench scenarios`")
    resolution: int = Field(64, ge=32, le=256, description="image side in pixels")
    source: Union[tuple(SOURCES.values())] = Field(
        {}, discriminator="kind", description="where the images come from; kind says which keys"
    )
    protocol: ProtocolSection = Field({}, description="settings over Protocol's defaults")


CARD_SUFFIXES = (".yaml", ".yml")

_WORDS = {int: "an integer", Number: "a number", str: "a string"}
_UNKNOWN_KEY = ("extra_forbidden", "invalid_key")  # pydantic's errors for a key not in the format


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading exponent numbers without a dot (``3e-4``) as floats, as
    YAML 1.2 does (PyYAML's YAML 1.1 reads them as strings), and refusing a key given twice in
    one mapping (PyYAML would keep the last value silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key '{key}' is given twice in one mapping", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9]+[eE][-+]?[0-9]+$"), list("-+0123456789")
)


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
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = f" at line {mark.line + 1}" if mark else ""
        problem = getattr(error, "problem", error)
        raise CardError(path, "", f"not valid YAML{line}: {problem}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CardError(path, "", f"cannot read the card: {error}") from None
    try:
        content = CardSchema.model_validate({} if raw is None else raw)
    except ValidationError as error:
        raise _card_error(path, error) from None
    return Card(path, content.model_dump())


def _card_error(path: Path, error: ValidationError) -> CardError:
    """The first problem of a card that fails validation, an unknown key before any other."""
    first = min(error.errors(), key=lambda problem: problem["type"] not in _UNKNOWN_KEY)
    kind, value = first["type"], first["input"]
    key, field, section = _locate(first["loc"])
    if kind in _UNKNOWN_KEY:
        problem = f"unknown key (known here: {', '.join(section.model_fields)})"
    elif kind == "union_tag_not_found":  # no source.kind
        key, problem = f"{key}.kind", f"missing (one of: {', '.join(SOURCES)})"
    elif kind == "union_tag_invalid":  # a source.kind not in SOURCES
        key, problem = f"{key}.kind", f"must be one of {', '.join(SOURCES)}; got {value['kind']!r}"
    elif kind == "missing":
        problem = f"missing ({_describe(field)})"
    elif kind.endswith("_type"):
        problem = f"expected {_describe(field)}, got {value!r}"
    else:
        problem = f"must be {_describe(field)}; got {value!r}"
    return CardError(path, key, problem)


def _locate(loc: tuple) -> tuple[str, FieldInfo | None, type[BaseModel] | None]:
    """Where a pydantic error location points in the card: the dotted key, its field (None: the
    whole card, or a key not in the format) and the section holding that key."""
    section, field, keys = CardSchema, None, []
    parts = iter(loc)
    for part in parts:
        if not hasattr(section, "model_fields"):  # past a value: the rest names its type's members
            break
        field = section.model_fields.get(part)
        keys.append(str(part))
        if field is None:
            break
        # after a field with variants comes the variant's tag, which is no key of the card
        section = SOURCES.get(next(parts, None)) if field.discriminator else field.annotation
    return ".".join(keys), field, section


def _describe(field: FieldInfo | None) -> str:
    """What a field accepts, in words: 'an integer from 32 to 256', "one of 'error', 'skip'",
    'a mapping' (a section, or the whole card: ``None``)."""
    if field is None:
        return "a mapping"
    if get_origin(field.annotation) is Literal:
        return "one of " + ", ".join(repr(choice) for choice in get_args(field.annotation))
    words = _WORDS.get(field.annotation, "a mapping")
    low = next((bound.ge for bound in field.metadata if hasattr(bound, "ge")), None)
    high = next((bound.le for bound in field.metadata if hasattr(bound, "le")), None)
    if high is not None:
        return f"{words} from {low} to {high}"
    if low is not None:
        return f"{words} >= {low}"
    return words
