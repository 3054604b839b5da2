"""The leaderboard table and a comparison as text (a rich table, Markdown, CSV, JSON), and the board's files.

A cell is ``mean ± half-width`` of the 95% confidence interval (``—`` for no interval: one run;
``—`` alone where the summary does not exist, like a joint model's forgetting). The terminal
table and LEADERBOARD.md carry each row's tied group (:mod:`facebench.board.ranking`: rows that
share a letter cannot be told apart), and LEADERBOARD.md a section per K, "What this board can
tell apart": every two rows' difference, interval, Holm-adjusted p, verdict, minimum detectable
effect and n on the primary column, the groups, the Friedman test and the critical-difference
diagram. Every cell of a
column has the same decimals: three significant digits of the column's largest value, between
1 and 4 decimals. A provisional row (:mod:`facebench.board.aggregate`: it lacks some of the
board's persons or seeds) has rank "—" and says so after its method: "(provisional: 2/5
persons, seeds {0})"; the CSV and JSON have the columns ``coverage`` and ``provisional``, and
an empty (null) rank.

A comparison (:mod:`facebench.board.compare`) is text in a long form, one line per baseline
(K, n pairs, new − baseline ± its 95% interval, minimum detectable effect, Holm-adjusted p,
verdict), fitted to a width: a method's name too long for its column goes on a line of its own,
a number is never split; a new row whose pairs are too few for a test is told so, with the
difference it could see and the pairs that would see :data:`facebench.board.ranking.SMALLEST_EFFECT`
(:func:`too_few`); or JSON.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import pandas as pd
from rich.table import Table
from rich.text import Text

from facebench.board import ranking
from facebench.board.aggregate import (
    ALPHA, COLUMNS, CONFIDENCE, MIN_PAIRS, PRIMARY, TIEBREAK, TOO_FEW, aggregate, column, grid, k_label,
)
from facebench.board.diagnosis import diagnosis_markdown, plot_diagnosis, recorded
from facebench.board.formats import cell, decimals, memory_cell, number, p_text
from facebench.board.labels import header
from facebench.board.load import CSV, JSON, MARKDOWN, Board
from facebench.board.plan import plan_markdown
from facebench.board.plots import cd_file, plot_board
from facebench.board.ranking import POWER, SMALLEST_EFFECT, Family
from facebench.protocol import SCORES
from facebench.style import table as styled_table


def notes(board: Board) -> list[str]:
    """The lines that say what the table's numbers are."""
    board_grid = grid(board.runs)
    lacks = "a run of one of these (person, seed) pairs" if board_grid.seeds else "one of these persons"
    return [
        f"Scenario {board.scenario} (card sha256 {board.card_sha256[:12]}, protocol version "
        f"{board.protocol_version}): {len(board.runs)} runs "
        f"from {board.files} result files.",
        "Each cell: mean over persons × seeds ± half-width of its 95% Student-t confidence interval "
        "(— : one run, no interval); n: runs per row.",
        f"Ranked within each K by {header(*PRIMARY)}, ties by {header(*TIEBREAK)}; group: ranked rows of one K "
        "that share a letter cannot be told apart on it (paired t-tests over the pairs they all have, Holm-corrected).",
        f"The board's grid: {board_grid}. A row without {lacks} is provisional: listed after the ranked rows "
        "of its K, unranked (rank —), its mean not comparable.",
        "Kept memory: what the strategy holds besides the model after the last session "
        "(items × bytes per item, or bytes; images are stored as float32).",
    ]


def skipped_lines(board: Board) -> list[str]:
    """'N files skipped:' and the problems that made them skipped; [] when none was."""
    if not board.skipped:
        return []
    files = board.skipped_files
    return [f"{files} file{'s' * (files != 1)} skipped:"] + [f"  {line}" for line in board.skipped]


def text_rows(table: pd.DataFrame, separator: str = " ") -> tuple[list[str], list[list[str]]]:
    """Titles and cells of the table with its ``group`` column (:func:`facebench.board.ranking.with_groups`),
    as shown in the terminal and in Markdown."""
    names = [column(score, summary) for score, summary in COLUMNS]
    places = {name: decimals(table[name].tolist()) for name in names}
    titles = (["K", "rank", "method", "group", "n"] + [header(score, summary, separator) for score, summary in COLUMNS]
              + ["kept memory"])
    rows = [[k_label(row["K"]), rank_cell(row), method_cell(row), row["group"], str(row["n"])]
            + [cell(row[name], row[name + "_ci95"], places[name]) for name in names]
            + [memory_cell(row["memory_items"], row["memory_bytes"])]
            for _, row in table.iterrows()]
    return titles, rows


def rank_cell(row) -> str:
    """A row's rank, "—" for a provisional row (unranked)."""
    return "—" if pd.isna(row["rank"]) else str(int(row["rank"]))


def method_cell(row) -> str:
    """A row's method, and "(provisional: <coverage>)" for a provisional row."""
    return row["method"] + (f" (provisional: {row['coverage']})" if row.get("provisional", False) else "")


def rich_table(board: Board, table: pd.DataFrame) -> Table:
    titles, rows = text_rows(ranking.with_groups(board, table), separator="\n")
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
    """LEADERBOARD.md without the findings: the table, its notes, and what the board can tell apart."""
    families = ranking.families(board, table)
    titles, rows = text_rows(ranking.with_groups(board, table))
    lines = [f"# Leaderboard: {board.scenario}", ""]
    lines += ["| " + " | ".join(titles) + " |", "|" + "|".join("---" for _ in titles) + "|"]
    lines += ["| " + " | ".join(values) + " |" for values in rows]
    lines += [""] + [line + "  " for line in notes(board)]  # two spaces: a Markdown line break
    lines += ["", *skipped_lines(board)] if board.skipped else []
    analysed = analysis(board, families)
    lines += ["", *analysed] if analysed else []
    return "\n".join(lines) + "\n"


def analysis(board: Board, families: list[Family]) -> list[str]:
    """The board's analysis sections as Markdown lines: what it can tell apart (``families``,
    :func:`facebench.board.ranking.families`), the plan's tests, and the per-session diagnosis
    of its replay rows; images as links into its plots folder."""
    lines = ["", *told_apart(families)] if families else []
    planned = plan_markdown(board)
    lines += ["", *planned] if planned else []
    if board.runs["K"].notna().any():
        lines += ["", *diagnosis_markdown(board)]
        lines += ["", f"![per-session diagnosis](plots/{DIAGNOSIS_PLOT})"] if recorded(board) else []
    return lines[1:]


def told_apart(families: list[Family]) -> list[str]:
    """The Markdown section "What this board can tell apart": one subsection per family."""
    lines = ["## What this board can tell apart", "",
             f"On {header(*PRIMARY)}, within each K: every two rows of full coverage, a ranked above b, compared "
             "over the (person, seed) pairs all rows of that K have. a − b: mean ± half-width of its 95% "
             f"interval; p_adj: two-sided paired t-test, Holm-corrected over the K's m tests; verdict on a against "
             f"b: better or worse where p_adj < {ALPHA:.2g}, else cannot tell (no evidence of equality); MDE: the "
             f"smallest true difference that test detects with {POWER:.0%} power at level {ALPHA:.2g}/m (Holm's "
             "first step); n: pairs. Rows that share a letter cannot be told apart. The Friedman test ranks the "
             "rows within each person (a row's mean over its seeds of that person), and the critical-difference "
             "diagram joins the rows Nemenyi's test cannot tell apart (Demšar 2006)."]
    for family in families:
        lines += ["", *_family_lines(family)]
    return lines


def _family_lines(family: Family) -> list[str]:
    """One family's subsection: its pairs, its groups, its comparisons, its Friedman test and diagram."""
    title = "Without a buffer" if family.k == "-" else f"K = {family.k}"
    rows, comparisons = len(family.methods), family.comparisons
    lines = [f"### {title}", ""]
    if rows < 2:
        return lines + [f"{rows} row of full coverage: nothing to compare."]
    n, persons, seeds = len(family.pairs), family.persons, family.seeds
    tests = int(comparisons["p"].notna().sum())
    over = (f" (person{'s' * (len(persons) != 1)} {', '.join(persons)}; seed{'s' * (len(seeds) != 1)} "
            f"{', '.join(map(str, seeds))})" if n else "")
    at = comparisons["level"].iloc[0]
    tested = (f"Holm over m = {tests} test{'s' * (tests != 1)}, MDE at level {ALPHA:.2g}/m = {at:.2g}" if tests
              else f"no test under {MIN_PAIRS} pairs, MDE at level {at:.2g}")
    lines += [f"{rows} rows over {n} (person, seed) pair{'s' * (n != 1)}{over}; {tested}.", ""]
    groups: dict[str, list[str]] = {}
    for method, letters in family.groups.items():
        for letter in letters:
            groups.setdefault(letter, []).append(method)
    lines += ["Groups: " + "; ".join(f"**{letter}**: {', '.join(methods)}" for letter, methods in groups.items())
              + ".", ""]
    places = decimals([*comparisons["difference"], *comparisons["mde"]])
    lines += ["| a | b | a − b | p_adj | verdict | MDE | n |", "|---|---|---|---|---|---|---|"]
    for _, row in comparisons.iterrows():
        lines.append(f"| {row['a']} | {row['b']} | {cell(row['difference'], row['ci95'], places)} | "
                     f"{p_text(row['p_adjusted'])} | {row['verdict']} | {number(row['mde'], places)} | {row['n']} |")
    friedman = family.friedman
    if friedman.reason:
        return lines + ["", f"{friedman}."]
    which = "of the rows without a buffer" if family.k == "-" else f"at K = {family.k}"
    return lines + ["", f"{friedman}; Nemenyi's critical difference {friedman.cd:.2f} ranks at {ALPHA:.2g}.", "",
                    f"![critical-difference diagram {which}](plots/{cd_file(family.k)})"]


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
        "grid": _grid(grid(board.runs)),
        "provisional": "a row without a run of one of the grid's (person, seed) pairs: after the ranked rows "
                       "of its K, rank null, its mean not comparable",
        "group": "letters of the rows' tied groups within their K (facebench.board.ranking): two rows that share a "
                 "letter cannot be told apart by Holm-corrected paired t-tests; empty for a provisional row",
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


def board_table(board: Board) -> pd.DataFrame:
    """The board's table as every view shows it: :func:`facebench.board.aggregate.aggregate`'s,
    with the tied groups (:func:`facebench.board.ranking.with_groups`)."""
    return ranking.with_groups(board, aggregate(board))


DIAGNOSIS_PLOT = "diagnosis.png"
"""The per-session diagnosis's plot in a board's plots folder (a board with replay rows)."""


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
    plots = plot_board(board, table, out / "plots")
    if recorded(board):
        plots.append(plot_diagnosis(board, out / "plots" / DIAGNOSIS_PLOT))
    return written + plots


def _grid(board_grid) -> dict:
    return {"persons": list(board_grid.persons), "seeds": list(board_grid.seeds)}


# Comparisons. --------------------------------------------------------------------------------

TEST = ("two-sided paired t-test over the (person, seed) pairs both rows have (scipy.stats.ttest_rel); "
        f"no test under {MIN_PAIRS} pairs")
CORRECTION = "Holm, within each family: one new row's baselines in one column"


def _where(k: str) -> str:
    return "among the strategies without a buffer" if k == "-" else f"at K={k}"


def _persons(persons: list[str]) -> str:
    if len(persons) > 6:
        return _keep(f"{len(persons)} persons")
    return ("person\xa0" if len(persons) == 1 else "persons\xa0") + ", ".join(persons)


def _seeds(seeds: list[int]) -> str:
    return ("seed\xa0" if len(seeds) == 1 else "seeds\xa0") + ", ".join(map(str, seeds))


def _keep(text) -> str:
    """``text`` that :func:`_wrap` keeps on one line (its spaces no-break spaces until then)."""
    return str(text).replace(" ", "\xa0")


def _wrap(text: str, width: int) -> list[str]:
    """A paragraph wrapped at spaces to ``width``, its later lines indented by two; never inside
    a number, nor inside what :func:`_keep` marked."""
    lines = textwrap.wrap(text, width, subsequent_indent="  ", break_long_words=False, break_on_hyphens=False)
    return [line.replace("\xa0", " ") for line in lines]


def _rank_lines(comparison, mine, width: int) -> list[str]:
    primary = column(*PRIMARY)
    k = k_label(mine["K"])
    status = (f"provisional (the board's grid: {_keep(comparison.grid)})" if mine["provisional"]
              else "full coverage")
    lines = _wrap(f"{mine['method']}, K={k}: {_keep(mine['coverage'])}; {status}", width)
    if pd.isna(mine["rank"]):
        return lines + _wrap(f"{mine['method']} is not ranked: it shares no {_keep('(person, seed)')} pair with "
                             f"the board's rows {_where(k)}.", width)
    places = decimals([mine[primary], mine["best_" + primary]])
    pairs = mine["pairs"]
    text = (f"{mine['method']} would rank {mine['rank']} of {mine['of']} {_where(k)} by {_keep(header(*PRIMARY))} "
            f"over the {pairs} {_keep('(person, seed)')} pair{'s' * (pairs != 1)} it shares with those rows "
            f"({_persons(mine['persons'])}; {_seeds(mine['seeds'])}), every row's mean over those pairs only: "
            f"{mine[primary]:.{places}f}")
    if isinstance(mine["best"], str):
        best = mine["best_" + primary]
        text += f"; the best of the board's rows there, {_keep(mine['best'] + ':')} {best:.{places}f}"
    if mine["left_out"]:
        rows = mine["left_out"]
        text += f"; {rows} board row{'s' * (rows != 1)} without those pairs left out"
    return lines + _wrap(text + ".", width)


def _column_lines(rows: pd.DataFrame, score: str, summary: str, width: int, exploratory: bool) -> list[str]:
    """One column's differences: a heading, then one line per baseline."""
    tests = int(rows["p"].notna().sum())
    heading = (f"{_keep(header(score, summary))}{' (exploratory)' if exploratory else ''}: new − baseline over the "
               f"pairs both have, {_keep('mean ± 95% CI')}; ")
    if tests:
        heading += (f"p_adj: paired t-test, Holm over {tests} test{'s' * (tests != 1)}; cannot tell: "
                    f"{_keep(f'p_adj ≥ {ALPHA:.2g}')}, or {_keep(f'n < {MIN_PAIRS}')} (no test); ")
    else:
        heading += f"no p-value: {_keep(f'n < {MIN_PAIRS}')} pairs with every baseline, too few to test; "
    heading += (f"MDE: the smallest true difference the test detects with {POWER:.0%} power at Holm's first "
                f"level, {_keep(f'{ALPHA:.2g}/m = {rows.level.iloc[0]:.2g}')}.")
    lines = _wrap(heading, width)
    places = decimals(rows["difference"].tolist())
    means, halves = [], []
    for difference, half in zip(rows["difference"], rows["ci95"]):
        means.append(f"{difference:+.{places}f}" if math.isfinite(difference) else "—")
        halves.append(f"{half:.{places}f}" if math.isfinite(half) else "—")
    mean_width, half_width = max(map(len, means)), max(map(len, halves))
    mde_places = decimals(rows["mde"].tolist())
    cells = []
    for (_, row), mean, half in zip(rows.iterrows(), means, halves):
        difference = f"{mean:>{mean_width}} ± {half:>{half_width}}" if mean != "—" else "—"
        cells.append((row["baseline"], k_label(row["baseline_K"]), str(row["n"]), difference,
                      number(row["mde"], mde_places), p_text(row["p_adjusted"]), row["verdict"]))
    titles = ("baseline", "K", "n", "new − baseline", "MDE", "p_adj", "verdict")
    widths = [max(len(title), *(len(c[i]) for c in cells)) for i, title in enumerate(titles)]
    fixed = sum(widths[1:]) + 2 * (len(titles) - 1)  # the columns after the name, two spaces apart
    widths[0] = max(8, min(widths[0], width - 2 - fixed))

    def line(values) -> str:
        name, k, n, difference, mde, p, verdict = values
        rest = (f"{k:>{widths[1]}}  {n:>{widths[2]}}  {difference:<{widths[3]}}  {mde:>{widths[4]}}  "
                f"{p:>{widths[5]}}  {verdict}")
        if len(name) > widths[0]:
            return f"  {name}\n  {'':<{widths[0]}}  {rest}"
        return f"  {name:<{widths[0]}}  {rest}".rstrip()

    lines.append(line(titles))
    lines += [text for cell in cells for text in line(cell).split("\n")]
    return lines


def too_few(rows: pd.DataFrame) -> str | None:
    """For one new row's comparisons on the primary column: where some have too few pairs for a
    test ("cannot tell (n < 3)"), the sentence that says so, with the smallest difference those
    pairs could see (:func:`facebench.board.ranking.mde`, at the level the family would test at)
    and the pairs that would see :data:`facebench.board.ranking.SMALLEST_EFFECT` at that level with the
    spread measured (:func:`facebench.board.ranking.pairs_needed`); None where none has."""
    rows = rows[rows["verdict"] == TOO_FEW]
    if rows.empty:
        return None
    scale = SCORES[PRIMARY[0]][1]
    unit = f" (×{scale})" if scale != 1 else ""
    ns = sorted(set(rows["n"]))
    n = _span(ns, "d")
    text = f"too few runs to decide: n = {n} pair{'s' * (ns[-1] != 1)}"
    spread = rows[rows["sd"] > 0]
    if spread.empty:
        return text + f"; the spread of the differences needs at least 2 pairs, a test {MIN_PAIRS}."
    mdes = sorted(spread["mde"])
    places = decimals(mdes)
    needed = sorted(ranking.pairs_needed(SMALLEST_EFFECT, sd, at) for sd, at in zip(spread["sd"], spread["level"]))
    against = (f" against {len(spread)} baselines" if len(spread) > 1 else "")
    return (text + f"; at n = {n} the smallest detectable difference is {_span(mdes, f'.{places}f')}{unit}{against}"
            f" ({POWER:.0%} power, level {spread['level'].iloc[0]:.2g}); about {_span(needed, 'd')} pairs would "
            f"detect {SMALLEST_EFFECT:g}{unit}.")


def _span(values: list, spec: str) -> str:
    """``3`` or ``3 to 7``: the least and the largest of sorted ``values``."""
    low, high = format(values[0], spec), format(values[-1], spec)
    return low if low == high else f"{low} to {high}"


def comparison_text(comparison, width: int = 80, all_columns: bool = False) -> list[str]:
    """One block of text per new (method, K), lines at most ``width`` long where the method names
    allow: its coverage and rank, then the primary column's difference to every baseline (and,
    with ``all_columns``, every other column's, marked exploratory)."""
    differences = comparison.differences
    blocks = []
    for _, mine in comparison.ranks.iterrows():
        k = k_label(mine["K"])
        lines = _rank_lines(comparison, mine, width)
        rows = differences[(differences["method"] == mine["method"]) & (differences["K"].map(k_label) == k)]
        for score, summary in COLUMNS:
            if (score, summary) != PRIMARY and not all_columns:
                continue
            shown = rows[rows["column"] == column(score, summary)]
            if len(shown):
                lines += [""] + _column_lines(shown, score, summary, width, exploratory=(score, summary) != PRIMARY)
            sentence = too_few(shown) if (score, summary) == PRIMARY else None
            if sentence:
                lines += ["", *_wrap(sentence[0].upper() + sentence[1:], width)]
        blocks.append("\n".join(lines))
    return blocks


def comparison_tables(comparison, width: int = 80, all_columns: bool = False) -> list[Text]:
    """:func:`comparison_text` as rich Text, one per new (method, K) (Text: a method's name is
    never read as rich markup)."""
    return [Text(block) for block in comparison_text(comparison, width, all_columns)]


def _primary_of(differences: pd.DataFrame, mine) -> pd.DataFrame:
    """The primary column's differences of the new row ``mine`` (a row of a comparison's ranks)."""
    return differences[differences["primary"] & (differences["method"] == mine["method"])
                       & (differences["K"].map(k_label) == k_label(mine["K"]))]


def comparison_json(comparison, all_columns: bool = False) -> str:
    differences = comparison.differences
    if not all_columns:
        differences = differences[differences["primary"]]
    payload = {
        "scenario": comparison.board.scenario,
        "card_sha256": comparison.board.card_sha256,
        "test": TEST,
        "correction": CORRECTION,
        "alpha": ALPHA,
        "min_pairs": MIN_PAIRS,
        "confidence": CONFIDENCE,
        "verdict": f"better or worse: Holm-adjusted p < {ALPHA:.2g}, in the column's direction; cannot tell: "
                   "otherwise (no evidence either way, not evidence of equality)",
        "mde": f"the smallest true difference (print scale) the paired t-test detects with {POWER:.0%} power at "
               "level (alpha / m, Holm's first level for the family's m comparisons), the sd of the differences "
               "as measured",
        "primary": column(*PRIMARY),
        "columns": [column(s, m) for s, m in COLUMNS if all_columns or (s, m) == PRIMARY],
        "grid": _grid(comparison.grid),
        "ranks": [{**record, "too_few": too_few(_primary_of(comparison.differences, record))}
                  for record in records(comparison.ranks)],
        "differences": records(differences),
    }
    return json.dumps(payload, indent=1, ensure_ascii=False) + "\n"
