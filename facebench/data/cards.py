"""Scenario cards: the YAML files that say which images make a scenario.

A card is found by name among the cards shipped in ``facebench.scenarios`` (the top-level
``scenarios/`` folder) or by path (anything ending in ``.yaml``/``.yml`` or holding a ``/``).
A card's name is its file name without the extension.

A card is validated on load against :data:`SCHEMA`: an unknown key, a missing key, a value of
the wrong type or an impossible value raises :class:`CardError`, whose message names the file
and the key. Validation fills in defaults. The card hash (:attr:`Card.sha256`) is the sha256 of
the canonical JSON of the validated card (keys sorted, no spaces, UTF-8), so two cards that
validate to the same content have the same hash.

:data:`SCHEMA` is declarative: a section is a dict of key -> :class:`Field`, a nested section,
or :class:`Variants` (a section whose keys depend on one of its values, like ``source.kind``).
A section whose keys all have defaults may be left out of a card. Adding a section to the
card format is adding one entry to :data:`SCHEMA`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml

from facebench.errors import FacebenchError

REQUIRED = object()
"""The default of a :class:`Field` that every card must give."""


@dataclass(frozen=True)
class Field:
    """One value of a card: its type, its default (REQUIRED: none) and the values it may take."""

    type: type
    default: Any = REQUIRED
    min: float | None = None
    max: float | None = None
    choices: tuple = ()
    doc: str = ""


@dataclass(frozen=True)
class Variants:
    """A section whose other keys depend on the value of its key ``key``: one schema per value."""

    key: str
    options: dict[str, dict]


def _protocol_section() -> dict:
    """One field per ``facebench.protocol.Protocol`` setting, its default the protocol's."""
    from dataclasses import fields

    from facebench.protocol import Protocol

    lowest = {"batch_replay": 0, "lr": 0.0, "l2_weight": 0.0, "inversion_lr": 0.0, "eval_steps": 0}
    return {
        f.name: Field(type(f.default), default=f.default, min=lowest.get(f.name, 1), doc=f"see Protocol.{f.name}")
        for f in fields(Protocol)
    }


SCHEMA: dict = {
    "description": Field(str, default="", doc="one line shown by `facebench scenarios`"),
    "resolution": Field(int, default=64, min=32, max=256, doc="image side in pixels"),
    "source": Variants(
        "kind",
        {
            "faceworld": {
                "world_seed": Field(int, min=0, doc="another seed gives other persons"),
                "persons": Field(int, min=1, doc="persons '0' .. 'persons-1'"),
                "sessions": Field(int, min=1, doc="sessions per person, in stream order"),
                "train_per_session": Field(int, min=1, doc="training images per session"),
                "test_per_session": Field(int, min=1, doc="test images per session"),
            },
            "folder": {
                "root": Field(
                    str,
                    doc="root/<person>/<session>/{train,test}/*.{png,jpg,jpeg,webp}, "
                    "relative to the card's folder",
                ),
                "on_bad_image": Field(
                    str,
                    default="error",
                    choices=("error", "skip"),
                    doc="an unreadable image is an error, or is left out with a warning",
                ),
            },
        },
    ),
    "protocol": _protocol_section(),
}

CARD_SUFFIXES = (".yaml", ".yml")

_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, reading exponent numbers without a dot (``3e-4``) as floats, as
    YAML 1.2 does (PyYAML's YAML 1.1 reads them as strings)."""


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
    return Card(path, _validate({} if raw is None else raw, SCHEMA, "", path))


def _validate(value: Any, spec: Any, key: str, path: Path) -> Any:
    """``value`` checked against ``spec`` (a Field, Variants or section dict), defaults filled."""
    if isinstance(spec, Field):
        return _check_field(value, spec, key, path)
    if not isinstance(value, dict):
        raise CardError(path, key, f"expected a mapping, got {value!r}")
    if isinstance(spec, Variants):
        variant_key = _join(key, spec.key)
        if spec.key not in value:
            raise CardError(path, variant_key, f"missing (one of: {', '.join(spec.options)})")
        variant = value[spec.key]
        if not isinstance(variant, str) or variant not in spec.options:
            raise CardError(
                path, variant_key, f"must be one of {', '.join(spec.options)}; got {variant!r}"
            )
        rest = {name: item for name, item in value.items() if name != spec.key}
        return {spec.key: variant, **_validate(rest, spec.options[variant], key, path)}
    unknown = [name for name in value if name not in spec]
    if unknown:
        known = ", ".join(spec) if spec else "none"
        raise CardError(path, _join(key, str(unknown[0])), f"unknown key (known here: {known})")
    return {
        name: _validate(value[name], item, _join(key, name), path)
        if name in value
        else _absent(item, _join(key, name), path)
        for name, item in spec.items()
    }


def _absent(spec: Any, key: str, path: Path) -> Any:
    """The value of a key a card leaves out: its default, or an error if it has none."""
    if not isinstance(spec, Field):
        return _validate({}, spec, key, path)
    if spec.default is REQUIRED:
        raise CardError(path, key, f"missing ({_describe(spec)})")
    return spec.default


def _check_field(value: Any, spec: Field, key: str, path: Path) -> Any:
    is_bool = isinstance(value, bool)
    if spec.type is float:
        right_type = isinstance(value, (int, float)) and not is_bool
    else:
        right_type = isinstance(value, spec.type) and (is_bool == (spec.type is bool))
    if not right_type:
        raise CardError(path, key, f"expected {_describe(spec)}, got {value!r}")
    too_small = spec.min is not None and value < spec.min
    too_large = spec.max is not None and value > spec.max
    if too_small or too_large or (spec.choices and value not in spec.choices):
        raise CardError(path, key, f"must be {_describe(spec)}; got {value!r}")
    return value


def _describe(spec: Field) -> str:
    """What a field accepts, in words: 'an integer from 32 to 256', "one of 'error', 'skip'"."""
    if spec.choices:
        return "one of " + ", ".join(repr(choice) for choice in spec.choices)
    words = _TYPE_NAMES[spec.type]
    if spec.min is not None and spec.max is not None:
        return f"{words} from {spec.min} to {spec.max}"
    if spec.min is not None:
        return f"{words} >= {spec.min}"
    if spec.max is not None:
        return f"{words} <= {spec.max}"
    return words


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
