"""How a board prints its numbers, the same in every view (Markdown, terminal, HTML, the plan's
and the diagnosis's sections): decimals per column, mean ± half-width cells, p-values, bytes."""

from __future__ import annotations

import math


def decimals(values) -> int:
    """The decimals every cell of a column gets: three significant digits of its largest finite
    value in absolute terms, between 1 and 4 (2 when there is none or it is 0)."""
    largest = max((abs(v) for v in values if isinstance(v, float) and math.isfinite(v)), default=1.0)
    return min(4, max(1, 2 - math.floor(math.log10(largest))) if largest > 0 else 2)


def number(value: float, places: int) -> str:
    """``value`` with ``places`` decimals; "—" for a missing one."""
    return f"{value:.{places}f}" if math.isfinite(value) else "—"


def cell(mean: float, half: float, places: int, signed: bool = False) -> str:
    """``mean ± half`` with ``places`` decimals (``signed``: the mean's sign always shown); "—"
    for a missing mean or a missing half-width."""
    if not math.isfinite(mean):
        return "—"
    return f"{mean:{'+' if signed else ''}.{places}f} ± " + (f"{half:.{places}f}" if math.isfinite(half) else "—")


def p_text(p: float) -> str:
    """A p-value as printed: three decimals, "<0.001" below, "—" for none."""
    if not math.isfinite(p):
        return "—"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def size(n: float) -> str:
    """Bytes in B, kB, MB (powers of 1000); "—" for a missing count."""
    if not math.isfinite(n):
        return "—"
    for unit, scale in (("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def memory_cell(items: float, total: float) -> str:
    """What a strategy keeps besides the model: "K × bytes per item" for items, else the bytes."""
    if math.isfinite(items) and items > 0:
        return f"{items:g} × {size(total / items)}"
    return size(total)
