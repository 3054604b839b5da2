"""The weights zoo: shipped safetensors assets, their model cards, and ``load(name)``.

Each asset ``zoo/<file>.safetensors`` has a card ``zoo/<file>.json``: name, file, sha256 (of the
safetensors file), resolution, architecture config, parameter count, size in bytes, the exact command
that trains it, its training time, and the figures it reached on held-out persons. An asset at the
default resolution (64 px) is ``<name>.safetensors``; at another resolution R, ``<name>-<R>px.safetensors``.
The zoo folder is the package's ``zoo/`` unless ``FACEBENCH_ZOO`` or the ``zoo`` argument names another.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from facebench.errors import FacebenchError
from .encoder import Encoder
from .generator import Generator
from .identity import IdentityNet
from .perceptual import PerceptualDistance

NAMES = ("generator", "encoder", "identity", "perceptual")
DEFAULT_RESOLUTION = 64
_CLASSES = {"generator": Generator, "encoder": Encoder, "identity": IdentityNet, "perceptual": PerceptualDistance}
_TRAINED_BY = {"generator": "generator", "encoder": "generator", "identity": "identity", "perceptual": "perceptual"}


class AssetError(FacebenchError):
    """A zoo asset is missing, corrupt or not available at the asked resolution."""


def zoo_dir(zoo: str | os.PathLike | None = None) -> Path:
    """The zoo folder: ``zoo``, else $FACEBENCH_ZOO, else the package's ``zoo/``."""
    return Path(zoo or os.environ.get("FACEBENCH_ZOO") or Path(__file__).with_name("zoo"))


def stem(name: str, resolution: int = DEFAULT_RESOLUTION) -> str:
    """File stem of asset ``name`` at ``resolution``."""
    return name if resolution == DEFAULT_RESOLUTION else f"{name}-{resolution}px"


def rebuild_command(name: str, resolution: int = DEFAULT_RESOLUTION) -> str:
    """The command that (re)builds asset ``name`` (the generator run also writes the encoder)."""
    cmd = f"facebench pretrain {_TRAINED_BY[name]}"
    return cmd if resolution == DEFAULT_RESOLUTION else f"{cmd} --resolution {resolution}"


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def cards(zoo=None) -> list[dict]:
    """All model cards in the zoo, sorted by name then resolution."""
    found = [json.loads(p.read_text()) for p in sorted(zoo_dir(zoo).glob("*.json"))]
    return sorted(found, key=lambda c: (c["name"], c["resolution"]))


def card(name: str, resolution: int = DEFAULT_RESOLUTION, zoo=None) -> dict:
    """The card of asset ``name`` at ``resolution``; AssetError if it is not in the zoo."""
    if name not in NAMES:
        raise AssetError(f"unknown model {name!r}; the zoo has: {', '.join(NAMES)}")
    path = zoo_dir(zoo) / f"{stem(name, resolution)}.json"
    if not path.exists():
        have = sorted(c["resolution"] for c in cards(zoo) if c["name"] == name)
        where = f"the zoo has it at {', '.join(f'{r} px' for r in have)}" if have else "the zoo has none"
        raise AssetError(f"no {name} asset at {resolution} px in {zoo_dir(zoo)} ({where}); "
                         f"build it with: {rebuild_command(name, resolution)}")
    return json.loads(path.read_text())


def load(name: str, resolution: int = DEFAULT_RESOLUTION, zoo=None) -> torch.nn.Module:
    """Load zoo asset ``name`` (generator, encoder, identity, perceptual) as a torch module in eval mode.

    The file's sha256 must equal its card's; a missing or corrupt file is an ``AssetError`` that names
    the asset and the command that rebuilds it.
    """
    meta = card(name, resolution, zoo)
    path = zoo_dir(zoo) / meta["file"]
    fix = f"rebuild it with: {rebuild_command(name, resolution)}"
    if not path.exists():
        raise AssetError(f"asset {name} ({path}) is missing; {fix}")
    if sha256(path) != meta["sha256"]:
        raise AssetError(f"asset {name} ({path}) is corrupt: its sha256 differs from its card's; {fix}")
    module = _CLASSES[name](**_decode(meta["config"]))
    module.load_state_dict(load_file(str(path)))
    return module.eval()


def save(name: str, module: torch.nn.Module, card_fields: dict, zoo=None) -> dict:
    """Write ``module`` as asset ``name`` with its card (returns the card); overwrites atomically."""
    folder = zoo_dir(zoo)
    folder.mkdir(parents=True, exist_ok=True)
    resolution = int(module.config.get("resolution", DEFAULT_RESOLUTION))
    base = stem(name, resolution)
    tmp = folder / f".{base}.safetensors.tmp"
    save_file({k: v.detach().contiguous() for k, v in module.state_dict().items()}, str(tmp))
    tmp.chmod(0o644)  # safetensors writes 0600
    path = tmp.replace(folder / f"{base}.safetensors")
    meta = {"name": name, "file": path.name, "sha256": sha256(path), "resolution": resolution,
            "config": module.config, "parameters": sum(p.numel() for p in module.parameters()),
            "size_bytes": path.stat().st_size, **card_fields}
    tmp = folder / f".{base}.json.tmp"
    tmp.write_text(json.dumps(meta, indent=2) + "\n")
    tmp.replace(folder / f"{base}.json")
    return meta


def _decode(config: dict) -> dict:
    """JSON config -> constructor kwargs (channel tables have int keys)."""
    out = dict(config)
    if isinstance(out.get("channels"), dict):
        out["channels"] = {int(k): v for k, v in out["channels"].items()}
    if isinstance(out.get("channels"), list):
        out["channels"] = tuple(out["channels"])
    return out
