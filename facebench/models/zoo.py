"""The weights zoo: shipped safetensors assets, their model cards, and ``load(name)``.

Each asset ``zoo/<file>.safetensors`` has a card ``zoo/<file>.json``: name, file, sha256 (of the
safetensors file), resolution, architecture config, parameter count, size in bytes, the exact command
that trains it, its training time, and the figures it reached on held-out persons. An asset at the
default resolution (64 px) is ``<name>.safetensors``; at another resolution R, ``<name>-<R>px.safetensors``.
The assets' folder is the package's ``zoo/`` unless the ``folder`` argument or ``$FACEBENCH_ZOO`` names
another. Files are written atomically (``facebench.atomic``). A card that is not a JSON object with the
keys ``CARD_KEYS``, and an asset that is missing, differs from its card's sha256, is not a safetensors
file or does not fit its card's config, is an ``AssetError`` naming the file and the command that
rebuilds it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path

import safetensors.torch
import torch
from safetensors import SafetensorError

from facebench.atomic import write_atomic
from facebench.errors import FacebenchError
from .encoder import Encoder
from .generator import Generator
from .identity import IdentityNet
from .perceptual import PerceptualDistance

NAMES = ("generator", "encoder", "identity", "perceptual")
DEFAULT_RESOLUTION = 64
_CLASSES = {"generator": Generator, "encoder": Encoder, "identity": IdentityNet, "perceptual": PerceptualDistance}
_TRAINED_BY = {"generator": "generator", "encoder": "generator", "identity": "identity", "perceptual": "perceptual"}
CARD_KEYS = ("name", "file", "sha256", "resolution", "config", "parameters", "size_bytes", "command", "train_seconds")
"""The keys every model card has: those ``save`` writes, and the ``command`` and ``train_seconds``
that ``facebench pretrain`` adds."""


class AssetError(FacebenchError):
    """A zoo asset is missing, corrupt or not available at the asked resolution."""


def zoo_dir(folder: str | os.PathLike | None = None) -> Path:
    """The assets' folder: ``folder``, else $FACEBENCH_ZOO, else the package's ``zoo/``."""
    return Path(folder or os.environ.get("FACEBENCH_ZOO") or Path(__file__).with_name("zoo"))


def stem(name: str, resolution: int = DEFAULT_RESOLUTION) -> str:
    """File stem of asset ``name`` at ``resolution``."""
    return name if resolution == DEFAULT_RESOLUTION else f"{name}-{resolution}px"


def rebuild_command(name: str, resolution: int = DEFAULT_RESOLUTION) -> str:
    """The command that (re)builds asset ``name`` (the generator run also writes the encoder)."""
    cmd = f"facebench pretrain {_TRAINED_BY[name]}"
    return cmd if resolution == DEFAULT_RESOLUTION else f"{cmd} --resolution {resolution}"


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def cards(folder=None) -> list[dict]:
    """All model cards in the assets' folder (``zoo_dir(folder)``), sorted by name then resolution."""
    found = [_read_card(p) for p in sorted(zoo_dir(folder).glob("*.json"))]
    return sorted(found, key=lambda c: (c["name"], c["resolution"]))


def _read_card(path: Path) -> dict:
    """The card at ``path``; AssetError naming the file and its rebuild command unless it is a JSON
    object with every key of ``CARD_KEYS``."""
    try:
        meta = json.loads(path.read_bytes())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        problem = f"is not valid JSON ({error})"
    else:
        if not isinstance(meta, dict):
            problem = "is not a JSON object"
        elif missing := [key for key in CARD_KEYS if key not in meta]:
            problem = f"lacks the key(s) {', '.join(missing)}"
        else:
            return meta
    raise AssetError(f"model card {path} {problem}; {_rebuild_hint(path.stem)}")


def _rebuild_hint(file_stem: str) -> str:
    """How to rebuild the asset whose files have the stem ``file_stem`` (see ``stem``); for a stem
    that names no asset, that it is none."""
    match = re.fullmatch(r"([a-z]+)(?:-(\d+)px)?", file_stem)
    if match is None or match[1] not in NAMES:
        return f"it names none of the zoo's assets ({', '.join(NAMES)}): remove it"
    return f"rebuild it with: {rebuild_command(match[1], int(match[2] or DEFAULT_RESOLUTION))}"


def card(name: str, resolution: int = DEFAULT_RESOLUTION, folder=None) -> dict:
    """The card of asset ``name`` at ``resolution`` in ``zoo_dir(folder)``; AssetError if it is not there."""
    if name not in NAMES:
        raise AssetError(f"unknown model {name!r}; the zoo has: {', '.join(NAMES)}")
    path = zoo_dir(folder) / f"{stem(name, resolution)}.json"
    if not path.exists():
        have = sorted(c["resolution"] for c in cards(folder) if c["name"] == name)
        where = f"the zoo has it at {', '.join(f'{r} px' for r in have)}" if have else "the zoo has none"
        raise AssetError(f"no {name} asset at {resolution} px in {zoo_dir(folder)} ({where}); "
                         f"build it with: {rebuild_command(name, resolution)}")
    return _read_card(path)


def load(name: str, resolution: int = DEFAULT_RESOLUTION, folder=None) -> torch.nn.Module:
    """Load asset ``name`` (generator, encoder, identity, perceptual) from ``zoo_dir(folder)`` as a torch
    module in eval mode.

    The file's sha256 must equal its card's; a missing or corrupt file is an ``AssetError`` that names
    the asset and the command that rebuilds it.
    """
    meta = card(name, resolution, folder)
    path = zoo_dir(folder) / meta["file"]
    fix = f"rebuild it with: {rebuild_command(name, resolution)}"
    if not path.exists():
        raise AssetError(f"asset {name} ({path}) is missing; {fix}")
    if sha256(path) != meta["sha256"]:
        raise AssetError(f"asset {name} ({path}) is corrupt: its sha256 differs from its card's; {fix}")
    try:
        weights = safetensors.torch.load_file(str(path))
    except SafetensorError as error:
        raise AssetError(f"asset {name} ({path}) is not a readable safetensors file ({error}); {fix}") from None
    try:
        module = _CLASSES[name](**_decode(meta["config"]))
        module.load_state_dict(weights)
    except (TypeError, ValueError, RuntimeError) as error:
        reason = " ".join(str(error).split())  # load_state_dict lists the bad keys over several lines
        raise AssetError(f"asset {name} ({path}) does not fit the config of its card "
                         f"({zoo_dir(folder) / stem(name, resolution)}.json): {reason}; {fix}") from None
    return module.eval()


def save(name: str, module: torch.nn.Module, card_fields: dict, folder=None) -> dict:
    """Write ``module`` as asset ``name`` with its card into ``zoo_dir(folder)`` (returns the card).

    Each file is written atomically (``facebench.atomic.write_atomic``): the safetensors file first,
    then the card that holds its sha256 and size, as JSON indented by 2.
    """
    where = zoo_dir(folder)
    where.mkdir(parents=True, exist_ok=True)
    resolution = int(module.config.get("resolution", DEFAULT_RESOLUTION))
    base = stem(name, resolution)
    weights = safetensors.torch.save({k: v.detach().contiguous() for k, v in module.state_dict().items()})
    path = write_atomic(where / f"{base}.safetensors", weights)
    meta = {"name": name, "file": path.name, "sha256": hashlib.sha256(weights).hexdigest(), "resolution": resolution,
            "config": module.config, "parameters": sum(p.numel() for p in module.parameters()),
            "size_bytes": len(weights), **card_fields}
    write_atomic(where / f"{base}.json", json.dumps(meta, indent=2) + "\n")
    return meta


def _decode(config: dict) -> dict:
    """JSON config -> constructor kwargs (channel tables have int keys)."""
    out = dict(config)
    if isinstance(out.get("channels"), dict):
        out["channels"] = {int(k): v for k, v in out["channels"].items()}
    if isinstance(out.get("channels"), list):
        out["channels"] = tuple(out["channels"])
    return out
