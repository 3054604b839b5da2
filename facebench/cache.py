"""Where facebench keeps what it computes once per machine and user: anchors, the signing key,
the strategy listing."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """$FACEBENCH_CACHE, else ~/.cache/facebench."""
    return Path(os.environ.get("FACEBENCH_CACHE") or Path.home() / ".cache" / "facebench")
