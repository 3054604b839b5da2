"""The leaderboard table and a comparison as text (a rich table, Markdown, CSV, JSON), and the board's files.

A cell is ``mean ± half-width`` of the 95% confidence interval (``—`` for no interval: one run;
``—`` alone where the summary does not exist, like a joint model's forgetting). Every cell of a
column has the same decimals: three significant digits of the column's largest value, between
1 and 4 decimals.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
from rich.table import Table
from rich.text import Text

from facebench.board.aggregate import COLUMNS, CONFIDENCE, PRIMARY, TIEBREAK, column, k_label
from facebench.board.labels import header
from facebench.board.load import CSV, JSON, MARKDOWN, Board
from facebench.board.plots import plot_board
from facebench.style import table as styled_table


def notes(board: Board) -> list[str]:
    """The lines that say what the table's numbers are."""
    return [
        f"Scenario {board.scenario} (card sha256 {board.card_sha256[:12]}): {len(board.runs)} runs "
        f"from {board.files} result files.",
        "Each cell: mean over persons × seeds ± half-width of its 95% Student-t confidence interval "
        "(— : one run, no interval); n: runs per row.",
        f"Ranked within each K by {header(*PRIMARY)}, ties by {header(*TIEBREAK)}.",
        "Kept memory: what the strategy holds besides the model after the last session "
        "(items × bytes per item, or bytes; images are stored as float32).",
    ]


def skipped_lines(board: Board) -> list[str]:
    """'N files skipped:' and the problems that made them skipped; [] when none was."""
    if not board.skipped:
        return []
    files = board.skipped_files
    return [f"{files} file{'s' * (files != 1)} skipped:"] + [f"  {line}" for line in board.skipped]


def decimals(values) -> int:
    """The decimals every cell of a column gets: three significant digits of its largest finite
    value in absolute terms, between 1 and 4 (2 when there is none or it is 0)."""
    largest = max((abs(v) for v in values if isinstance(v, float) and math.isfinite(v)), default=1.0)
    return min(4, max(1, 2 - math.floor(math.log10(largest))) if largest > 0 else 2)


def cell(mean: float, half: float, places: int) -> str:
    """``mean ± half`` with ``places`` decimals; "—" for a missing mean or a missing half-width."""
    if not math.isfinite(mean):
        return "—"
    return f"{mean:.{places}f} ± " + (f"{half:.{places}f}" if math.isfinite(half) else "—")


def text_rows(table: pd.DataFrame, separator: str = " ") -> tuple[list[str], list[list[str]]]:
    """Titles and cells of the table, as shown in the terminal and in Markdown."""
    names = [column(score, summary) for score, summary in COLUMNS]
    places = {name: decimals(table[name].tolist()) for name in names}
    titles = (["K", "rank", "method", "n"] + [header(score, summary, separator) for score, summary in COLUMNS]
              + ["kept memory"])
    rows = [[k_label(row["K"]), str(row["rank"]), row["method"], str(row["n"])]
            + [cell(row[name], row[name + "_ci95"], places[name]) for name in names]
            + [memory_cell(row["memory_items"], row["memory_bytes"])]
            for _, row in table.iterrows()]
    return titles, rows


def memory_cell(items: float, total: float) -> str:
    """What a strategy keeps besides the model: "K × bytes per item" for items, else the bytes."""
    if math.isfinite(items) and items > 0:
        return f"{items:g} × {size(total / items)}"
    return size(total)


def size(n: float) -> str:
    """Bytes in B, kB, MB (powers of 1000)."""
    for unit, scale in (("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def rich_table(board: Board, table: pd.DataFrame) -> Table:
    titles, rows = text_rows(table, separator="\n")
    out = styled_table(Text(f"{board.scenario} leaderboard"), caption="\n".join(notes(board)), caption_justify="left")
    for index, title in enumerate(titles):
        out.add_column(title, justify="left" if index == 2 else "right", overflow="fold")
    previous = None
    for values in rows:
        if previous is not None and values[0] != previous:
            out.add_section()
        out.add_row(*map(Text, values))  # Text: a method's name is never read as rich markup
        previous = values[0]
    return out


def markdown(board: Board, table: pd.DataFrame) -> str:
    titles, rows = text_rows(table)
    lines = [f"# Leaderboard: {board.scenario}", ""]
    lines += ["| " + " | ".join(titles) + " |", "|" + "|".join("---" for _ in titles) + "|"]
    lines += ["| " + " | ".join(values) + " |" for values in rows]
    lines += [""] + [line + "  " for line in notes(board)]  # two spaces: a Markdown line break
    lines += ["", *skipped_lines(board)] if board.skipped else []
    return "\n".join(lines) + "\n"


def csv(table: pd.DataFrame) -> str:
    return table.to_csv(index=False)


def as_json(board: Board, table: pd.DataFrame) -> str:
    payload = {
        "scenario": board.scenario,
        "card_sha256": board.card_sha256,
        "runs": len(board.runs),
        "files": board.files,
        "skipped": list(board.skipped),
        "primary": column(*PRIMARY),
        "tiebreak": column(*TIEBREAK),
        "confidence": CONFIDENCE,
        "interval": "half-width of the Student-t confidence interval of the mean over runs (columns *_ci95)",
        "rows": records(table),
    }
    return json.dumps(payload, indent=1, ensure_ascii=False) + "\n"


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts: NaN and NA as null, numpy numbers as Python numbers."""
    return [{key: _plain(value) for key, value in row.items()} for row in frame.to_dict("records")]


def _plain(value):
    if value is None or value is pd.NA or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return value.item() if hasattr(value, "item") else value


FINDINGS = "FINDINGS.md"
"""A board folder's hand-written text (the reference table, what the board shows), appended to LEADERBOARD.md."""


def write_board(board: Board, table: pd.DataFrame, out: str | Path) -> list[Path]:
    """Write LEADERBOARD.md (the table, then ``out``/FINDINGS.md if there is one), leaderboard.csv,
    leaderboard.json and the plots into ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    page = markdown(board, table)
    if (out / FINDINGS).is_file():
        page += "\n" + (out / FINDINGS).read_text(encoding="utf-8")
    for name, text in ((MARKDOWN, page), (CSV, csv(table)), (JSON, as_json(board, table))):
        (out / name).write_text(text, encoding="utf-8")
        written.append(out / name)
    return written + plot_board(board, table, out / "plots")


COMPARISON_NOTE = ("Each cell: new − baseline in print scale, mean over (person, seed) pairs ± half-width of "
                   "its 95% Student-t interval, and p of the two-sided paired t-test (— : under 2 pairs or "
                   "no spread); n: pairs.")


def comparison_tables(comparison) -> list[Table]:
    """One rich table per new (method, K): its rank, then its difference to every baseline."""
    differences = comparison.differences
    primary = column(*PRIMARY)
    out = []
    for _, mine in comparison.ranks.iterrows():
        k = k_label(mine["K"])
        where = "among the strategies without a buffer" if k == "-" else f"at K={k}"
        score = cell(mine[primary], mine[primary + "_ci95"], decimals([mine[primary]]))
        title = f"{mine['method']} would rank {mine['rank']} of {mine['of']} {where} by {header(*PRIMARY)}: {score}"
        table = styled_table(Text(title), caption=COMPARISON_NOTE, caption_justify="left")
        rows = differences[(differences["method"] == mine["method"])
                           & (differences["K"].map(k_label) == k)]
        shown = [(s, m) for s, m in COLUMNS if column(s, m) in set(rows["column"])]
        names = [column(s, m) for s, m in shown]
        for heading in ["baseline", "K", "n"] + [header(s, m, "\n") for s, m in shown]:
            table.add_column(heading, justify="left" if heading == "baseline" else "right", overflow="fold")
        places = {name: decimals(rows.loc[rows["column"] == name, "difference"].tolist()) for name in names}
        for (baseline, base_k), cells in rows.groupby(["baseline", rows["baseline_K"].map(k_label)], sort=False):
            by_column = cells.set_index("column")
            table.add_row(Text(baseline), base_k, str(cells["n"].max()),
                          *[_difference(by_column.loc[name], places[name]) if name in by_column.index else "—"
                            for name in names])
        out.append(table)
    return out


def _difference(row, places: int) -> str:
    if not math.isfinite(row["difference"]):
        return "no pairs"
    text = f"{row['difference']:+.{places}f} ± "
    if not math.isfinite(row["ci95"]):
        return text + "—"
    p = "p<0.001" if row["p"] < 0.001 else f"p={row['p']:.3f}"
    return text + f"{row['ci95']:.{places}f}\n{p}"


def comparison_json(comparison) -> str:
    payload = {
        "scenario": comparison.board.scenario,
        "test": "two-sided paired t-test over (person, seed) pairs (scipy.stats.ttest_rel)",
        "confidence": CONFIDENCE,
        "ranks": records(comparison.ranks),
        "differences": records(comparison.differences),
    }
    return json.dumps(payload, indent=1, ensure_ascii=False) + "\n"
