"""Signed state files: a pickled payload that is unpickled only if this machine's facebench wrote it.

Unpickling runs code: a checkpoint planted in an output folder must never be unpickled. A
signed file is a ``torch.save`` of plain data only, ``{"format", "header", "payload", "mac"}``:

- ``header``: a JSON-able dict that says what the file is (for a run's checkpoint: the run's
  spec and the hashes of its inputs); the reader compares it with what it expects;
- ``payload``: the bytes of ``torch.save(state)`` (tensors, optimizer states, pickled plugins);
- ``mac``: HMAC-SHA256 over the canonical JSON of the header and the payload, keyed by a
  32-byte secret made once per user and machine (``KEY``: ``$FACEBENCH_CACHE/signing.key``,
  else ``~/.cache/facebench/signing.key``, mode 0600).

``load_signed`` reads the outer file with ``torch.load(weights_only=True)`` (which unpickles no
object of any other type), checks the header, then the MAC, and only then unpickles the payload.
A file written elsewhere (another user, another machine, a tampered byte) is refused before
anything of it runs; whoever can read the key can already run code as its owner.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import secrets
import tempfile
from pathlib import Path

import torch

from facebench.atomic import write_atomic
from facebench.cache import cache_dir
from facebench.errors import FacebenchError

FORMAT = "facebench.signed/1"


class SignedFileError(FacebenchError):
    """A signed file that cannot be read, says it is something else, or whose signature fails."""


def key_path() -> Path:
    """Where this user's signing key lives."""
    return cache_dir() / "signing.key"


def _key() -> bytes:
    """This user's signing key, made on first use: written whole to a private temporary file,
    then linked into place (two processes making it at once keep the first one's, and no reader
    ever sees a partial key)."""
    path = key_path()
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".signing.", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as file:
                file.write(secrets.token_bytes(32))
                file.flush()
                os.fsync(file.fileno())
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    key = path.read_bytes()
    if len(key) != 32:
        raise SignedFileError(f"signing key {path} is not 32 bytes; delete it (and the checkpoints it signed)")
    return key


def _mac(header: dict, payload: bytes) -> str:
    message = json.dumps(header, sort_keys=True, separators=(",", ":")).encode() + b"\0" + payload
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()


def save_signed(path: str | Path, header: dict, state) -> None:
    """Write ``state`` (anything ``torch.save`` takes) under ``header``, signed, atomically."""
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    document = {"format": FORMAT, "header": header, "payload": payload, "mac": _mac(header, payload)}
    write_atomic(path, lambda file: torch.save(document, file))


def load_signed(path: str | Path, header: dict, what: str = "file"):
    """The state of a signed file whose header equals ``header``; ``SignedFileError`` naming the
    file (as ``what``) otherwise, before any of its payload is unpickled."""
    path = Path(path)
    try:
        document = torch.load(path, weights_only=True)
    except Exception as error:  # noqa: BLE001 - any unreadable or foreign file is one error
        raise SignedFileError(f"{what} {path} cannot be read ({_short(error)})") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise SignedFileError(f"{path} is not a facebench {what}")
    if document.get("header") != header:
        raise SignedFileError(f"{what} {path} belongs to something else: {_difference(document.get('header'), header)}")
    payload, mac = document.get("payload"), document.get("mac")
    if not isinstance(payload, bytes) or not isinstance(mac, str) or not hmac.compare_digest(mac, _mac(header, payload)):
        raise SignedFileError(f"{what} {path} was not written by facebench as this user on this machine "
                              f"(its signature does not match {key_path()}); nothing of it was loaded")
    return torch.load(io.BytesIO(payload), weights_only=False)


def _difference(found, expected: dict) -> str:
    if not isinstance(found, dict):
        return "it has no header"
    keys = [k for k in sorted(set(found) | set(expected)) if found.get(k) != expected.get(k)]
    return "; ".join(f"{k} is {found.get(k)!r}, expected {expected.get(k)!r}" for k in keys[:3])


def _short(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else type(error).__name__
