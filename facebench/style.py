"""How facebench's terminal tables look: one rich table style for every command."""

from __future__ import annotations

from rich import box
from rich.table import Table


def table(title=None, **options) -> Table:
    """A rich ``Table`` in facebench's style (a simple head rule, no outer padding); ``options``
    go to ``Table`` (caption, caption_justify, ...)."""
    return Table(title=title, box=box.SIMPLE_HEAD, collapse_padding=True, pad_edge=False, **options)
