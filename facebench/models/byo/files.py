"""A model file the user brings: where it is, its sha256, reading it, and checking its tensors.

Every problem is a :class:`ModelFileError` of one line that names the file and the mismatch.

- :func:`locate`: a card's ``path`` is relative to the card's folder (``~`` is the home folder);
  a missing file is an error naming the card key.
- :func:`file_sha256`: the sha256 of the file's bytes, in hex (computed once per path, size and
  modification time); :func:`checked_sha256` also compares it with the card's ``sha256`` when
  the card gives one.
- :func:`read_checkpoint`: ``torch.load`` with ``weights_only=True`` (tensors, numbers, strings
  and plain containers; never code from the file) and argparse's ``Namespace``, which
  rosinality's training script saves beside the weights.
- :func:`state_dict`, :func:`tensor`: a state dict inside the checkpoint, a tensor inside a
  state dict (what an architecture is read from), or the error that the file is not the layout.
- :func:`check_tensors`: a state dict against the names and shapes of the module that will
  load it: the first wrong shape, missing key or unexpected key is the error (with how many
  more there are). A missing ``num_batches_tracked`` (batch-norm bookkeeping some exports
  leave out) is no error. :func:`load_checked` checks, then loads.
"""

from __future__ import annotations

import argparse
import hashlib
import pickle
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path

import torch

from facebench.errors import FacebenchError


class ModelFileError(FacebenchError):
    """A user's model file that is missing, unreadable, or not of the layout its card says."""


def locate(card, role: str, spec: dict) -> Path:
    """The file of ``spec`` (the card's ``models.<role>``), resolved against ``card``'s folder."""
    path = card.path.parent / Path(spec["path"]).expanduser()
    if not path.is_file():
        raise ModelFileError(f"{path}: no such file (models.{role}.path of {card.path})")
    return path


def file_sha256(path: Path) -> str:
    """sha256 (hex) of the bytes of the file at ``path``."""
    stat = path.stat()
    return _sha256(path.resolve(), stat.st_size, stat.st_mtime_ns)


@lru_cache(maxsize=64)
def _sha256(path: Path, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def checked_sha256(path: Path, role: str, spec: dict) -> str:
    """The file's sha256; an error if the card's ``models.<role>.sha256`` is given and differs."""
    found = file_sha256(path)
    if spec.get("sha256") not in (None, found):
        raise ModelFileError(f"{path}: sha256 {found} differs from the card's models.{role}.sha256 {spec['sha256']}")
    return found


def read_checkpoint(path: Path) -> object:
    """The object saved in the torch checkpoint at ``path``, on the CPU (module doc)."""
    try:
        with torch.serialization.safe_globals([argparse.Namespace]):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        reason = str(error).split("WeightsUnpickler error:")[-1].strip().split("\n\n")[0]
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", reason)
        if refused:
            raise ModelFileError(f"{path}: holds a {refused[1]} object: facebench reads tensors and plain containers "
                                 "only, never code from a file") from None
    except (RuntimeError, OSError, EOFError, ValueError) as error:
        reason = str(error)
    raise ModelFileError(f"{path}: not a checkpoint torch.load can read ({' '.join(reason.split())[:200]})")


def state_dict(path: Path, saved: object, key: str, what: str) -> Mapping:
    """``saved[key]``, a state dict, where ``saved`` is the checkpoint read from ``path``; an
    error saying that the file is not ``what`` otherwise."""
    if not isinstance(saved, Mapping) or key not in saved:
        raise ModelFileError(f"{path}: has no '{key}' entry: not {what}")
    if not isinstance(saved[key], Mapping):
        raise ModelFileError(f"{path}: its '{key}' is a {type(saved[key]).__name__}, not a state dict: not {what}")
    return saved[key]


def tensor(path: Path, state: Mapping, key: str, ndim: int, prefix: str, what: str) -> torch.Tensor:
    """``state[key]``, a tensor of ``ndim`` dimensions; an error naming ``prefix + key`` otherwise."""
    value = state.get(key)
    if not isinstance(value, torch.Tensor):
        raise ModelFileError(f"{path}: key {prefix}{key} is missing: not {what}")
    if value.ndim != ndim:
        raise ModelFileError(f"{path}: key {prefix}{key} has shape {tuple(value.shape)}, not {ndim}-dimensional: "
                             f"not {what}")
    return value


def check_tensors(path: Path, state: Mapping, expected: Mapping[str, torch.Tensor], prefix: str, what: str) -> None:
    """An error for the first problem of ``state`` against ``expected`` (a module's state dict):
    a tensor of another shape, a key missing, a key ``expected`` lacks, a value that is no
    tensor; ``prefix`` is how the file names the keys' container (``g_ema.``), ``what`` the
    architecture the shapes were read for."""
    problems = [f"key {prefix}{key} has shape {tuple(state[key].shape)} but {what} expects {tuple(want.shape)}"
                for key, want in expected.items()
                if isinstance(state.get(key), torch.Tensor) and state[key].shape != want.shape]
    problems += [f"key {prefix}{key} is missing ({what} has it)" for key in expected
                 if key not in state and not key.endswith("num_batches_tracked")]
    problems += [f"key {prefix}{key} is not part of {what}" for key in state if key not in expected]
    problems += [f"key {prefix}{key} holds a {type(state[key]).__name__}, not a tensor" for key in expected
                 if key in state and not isinstance(state[key], torch.Tensor)]
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ModelFileError(f"{path}: {problems[0]}{more}")


def load_checked(module: torch.nn.Module, path: Path, state: Mapping, prefix: str, what: str) -> torch.nn.Module:
    """``module`` with the tensors of ``state`` loaded, after :func:`check_tensors`; in eval mode."""
    check_tensors(path, state, module.state_dict(), prefix, what)
    module.load_state_dict(dict(state), strict=False)
    return module.eval()
