"""The leaderboard as one self-contained static web page: ``leaderboard.html``.

``facebench leaderboard DIR --format html`` writes it beside LEADERBOARD.md (into ``--out``,
DIR by default). The page needs no server and loads nothing: its style and script are inline,
every image is a ``data:`` URI, its fonts are the system's, and a Content-Security-Policy
(``default-src 'none'``) forbids any other load, so it opens the same from a file, an e-mail or
an archive. Every text taken from the result files, the table and FINDINGS.md is escaped.

Sections, in order:

- header: scenario, card sha256, result files (valid runs, skipped), the board's grid
  (persons x seeds), protocol version and settings hash, primary column, and a provenance
  summary read from the runs' files (facebench commits, dirty checkouts, devices, CPUs,
  threads, torch and Python versions, when the runs were made);
- the table, one tab per K. The rows without a buffer (K "-": naive, joint, ...) have a tab of
  their own, first, because the board ranks them among themselves (its ranks and tied groups
  are within one K). Columns: rank, group (when the table has a ``group`` column: a compact
  letter display, two rows sharing a letter cannot be told apart; each letter a badge, the rows
  of group "a" highlighted), method, n, coverage, every board column (mean ± 95% half-width,
  its direction arrow in the title) and the kept memory. A click on a column's title sorts by
  it, ascending then descending (numbers by the mean; a missing value always last;
  ``aria-sort`` says the order). The provisional rows are in a body of their own after the
  ranked rows, under a line that says why, sorted apart, and marked. Without JavaScript every
  K's table is shown one after the other;
- the plots: every PNG of the board's ``plots`` folder (critical-difference diagrams ``cd_*``
  first), each with a caption from its file name;
- the analysis: LEADERBOARD.md's sections on what the board can tell apart, the plan's tests
  and the per-session diagnosis (``facebench.board.render.analysis``), rendered as below;
- the findings: FINDINGS.md (of the output folder, else of the board's folder) rendered from
  Markdown; raw HTML in it is shown as text, a link that is not http(s), mailto, a fragment or
  relative is dropped, an image is inlined from the file it names (relative to FINDINGS.md's
  folder, else to the output folder, where the plots are), or else replaced by a link
  (http(s)) or its alt text: the page never loads one;
- per-person results: one ``<details>`` per row of the table, with a line per (person, seed):
  the primary column, then every other board column.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections import Counter
from pathlib import Path
from xml.etree import ElementTree

import pandas as pd

from facebench.board.aggregate import COLUMNS, PRIMARY, column, grid, k_label, person_key, scaled
from facebench.board.formats import decimals, memory_cell, size
from facebench.board.labels import LABELS, SUMMARIES, header
from facebench.board.load import Board
from facebench.board.ranking import families
from facebench.board.render import analysis
from facebench.protocol import SCORES, VERSIONS

HTML = "leaderboard.html"
FINDINGS = "FINDINGS.md"
PLOTS = "plots"
GROUP = "group"
"""The table's column of tied groups, where the board has one: letters, '' for a provisional row."""
IMAGE_TYPES = {".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".gif": "image/gif",
               ".webp": "image/webp", ".svg": "image/svg+xml"}
SAFE_SCHEMES = ("http:", "https:", "mailto:")
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def e(value) -> str:
    """Text as HTML, quotes included."""
    return html.escape(str(value), quote=True)


def write_html(board: Board, table: pd.DataFrame, out: str | Path, source: str | Path | None = None) -> Path:
    """Write ``out``/leaderboard.html: the page of ``board`` and its ``table`` (its tied groups
    shown where it has a ``group`` column: ``facebench.board.render.board_table``'s), with the
    plots of ``out``/plots and the FINDINGS.md of ``out`` (else of ``source``, the board's folder)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    findings = next((folder / FINDINGS for folder in (out, Path(source) if source else None)
                     if folder is not None and (folder / FINDINGS).is_file()), None)
    path = out / HTML
    path.write_text(page(board, table, out / PLOTS, findings), encoding="utf-8")
    return path


def page(board: Board, table: pd.DataFrame, plots: Path | None = None, findings: Path | None = None) -> str:
    """The whole page as text."""
    table = table.reset_index(drop=True)
    out = plots.parent if plots else None
    sections = [_header(board), _table_section(board, table), _plots_section(plots), _analysis_section(board, table, out),
                _findings_section(findings, out), _runs_section(board, table)]
    title = f"facebench leaderboard: {board.scenario}"
    return (
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">\n"  # a constant, no quote
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{e(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        "<script>document.documentElement.classList.add('js')</script>\n"
        + "\n".join(section for section in sections if section)
        + f"\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )


# The header. ---------------------------------------------------------------------------------

def _header(board: Board) -> str:
    board_grid = grid(board.runs)
    documents = _documents(board)
    protocols = sorted({str(d.get("protocol", {}).get("sha256", ""))[:12] for d in documents} - {""})
    persons = ", ".join(board_grid.persons)
    seeds = ", ".join(map(str, board_grid.seeds)) if board_grid.seeds else "any"
    files = f"{board.files} ({len(board.runs)} valid runs"
    files += f", {board.skipped_files} skipped)" if board.skipped_files else ")"
    version = board.protocol_version
    facts = [
        ("scenario", e(board.scenario)),
        ("card sha256", f"<code class=\"hash\">{e(board.card_sha256)}</code>"),
        ("result files", e(files)),
        ("grid", e(f"{len(board_grid.persons)} persons ({persons}) × seeds {{{seeds}}}")),
        ("protocol", e(f"version {version} ({VERSIONS.get(version, 'unknown')})")
         + (f", settings <code>{e(', '.join(protocols))}</code>" if protocols else "")),
        ("ranked by", e(header(*PRIMARY)) + ", within each K"),
        ("provenance", _provenance(documents)),
    ]
    rows = "".join(f"<dt>{name}</dt><dd>{value}</dd>" for name, value in facts)
    skipped = ""
    if board.skipped:
        lines = "".join(f"<li>{e(line)}</li>" for line in board.skipped)
        skipped = (f"<details class=\"skipped\"><summary>{board.skipped_files} result file"
                   f"{'s' * (board.skipped_files != 1)} skipped</summary><ul>{lines}</ul></details>")
    return (f"<header><h1>facebench leaderboard: <span class=\"scenario\">{e(board.scenario)}</span></h1>"
            f"<dl class=\"facts\">{rows}</dl>{skipped}</header>")


def _documents(board: Board) -> list[dict]:
    """The result documents of the board's valid runs (those that can still be read)."""
    documents = []
    for path in board.runs.get("path", pd.Series([], dtype=object)):
        try:
            documents.append(json.loads(Path(path).read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return documents


def _counted(values) -> str:
    """``a (3), b (1)``: each value with how many runs have it, the most common first."""
    counts = Counter(str(value) for value in values if value not in (None, ""))
    if not counts:
        return "not recorded"
    if len(counts) == 1:
        return next(iter(counts))
    return ", ".join(f"{value} ({count})" for value, count in sorted(counts.items(), key=lambda x: (-x[1], x[0])))


def _provenance(documents: list[dict]) -> str:
    """What made the runs, from their files' ``provenance``, one short line per aspect."""
    if not documents:
        return "not recorded"
    provenance = [d.get("provenance") or {} for d in documents]
    commits = [str(p.get("git_commit") or "") for p in provenance]
    dirty = sum(commit.endswith("-dirty") for commit in commits)
    shown = [commit.removesuffix("-dirty")[:12] for commit in commits]
    created = sorted(str(p["created"])[:10] for p in provenance if p.get("created"))
    lines = [
        ("facebench commits", _counted(shown) + (f"; {dirty} of {len(commits)} runs from a dirty checkout"
                                                 if dirty else "")),
        ("device", _counted(p.get("device") for p in provenance)),
        ("CPU", _counted(p.get("cpu") for p in provenance)),
        ("threads", _counted(p.get("threads") for p in provenance)),
        ("torch", _counted(p.get("torch") for p in provenance)),
        ("Python", _counted(p.get("python") for p in provenance)),
        ("made", f"{created[0]} to {created[-1]}" if created else "not recorded"),
    ]
    items = "".join(f"<li><span class=\"what\">{e(name)}:</span> {e(text)}</li>" for name, text in lines)
    return f"<ul class=\"provenance\">{items}</ul>"


# The table. ----------------------------------------------------------------------------------

def _number(value) -> float:
    """A finite float, or NaN for anything missing."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number if math.isfinite(number) else math.nan


def _memory(row) -> tuple[str, float]:
    """The kept memory as text ("3 × 49.2 kB" or "0 B"), and its bytes to sort by."""
    items, total = _number(row.get("memory_items")), _number(row.get("memory_bytes"))
    return (memory_cell(items, total) if math.isfinite(total) else size(total)), total


def _group(row) -> str:
    value = row.get(GROUP)
    return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else str(value)


def _badges(group: str) -> str:
    """Each letter of a group as a badge, coloured by the letter."""
    if not group:
        return "<span class=\"none\">—</span>"
    return "".join(f"<span class=\"badge g{(ord(letter) - ord('a')) % 8 if letter.isalpha() else 0}\" "
                   f"title=\"group {e(letter)}\">{e(letter)}</span>" for letter in group)


def _anchor(index: int) -> str:
    return f"runs-{index}"


def _cell(value, kind: str, text: str, extra: str = "") -> str:
    """A table cell: ``data-v`` holds what it sorts by ('' for missing: always last)."""
    if kind == "num":
        number = _number(value)
        sort = "" if math.isnan(number) else repr(number)
    else:
        sort = str(value)
    classes = f" class=\"{extra}\"" if extra else ""
    return f"<td data-v=\"{e(sort)}\"{classes}>{text}</td>"


def _table_section(board: Board, table: pd.DataFrame) -> str:
    has_group = GROUP in table.columns
    names = [column(score, summary) for score, summary in COLUMNS]
    places = {name: decimals([_number(v) for v in table[name]]) for name in names if name in table}
    titles = [("rank", "num", "rank"), ("method", "text", "method"), ("n", "num", "runs (persons × seeds)"),
              ("coverage", "text", "coverage of the board's grid")]
    if has_group:
        titles.insert(1, ("group", "text", "tied group: rows sharing a letter cannot be told apart "
                                           "(Holm-corrected paired tests)"))
    for score, summary in COLUMNS:
        titles.append((header(score, summary), "num", f"{column(score, summary)}: mean ± 95% half-width"))
    titles.append(("kept memory", "num", "what the strategy keeps besides the model"))

    def head(index: int, title: str, kind: str, tip: str) -> str:
        sort = "ascending" if title == "rank" else "none"
        arrow = ""
        if title.endswith((" ↓", " ↑")):
            better = "lower" if title[-1] == "↓" else "higher"
            arrow = f" <span class=\"dir\" title=\"{better} is better\">{title[-1]}</span>"
            title = title[:-2]
        sticky = " class=\"col-method\"" if title == "method" else ""
        return (f"<th scope=\"col\"{sticky} data-type=\"{kind}\" aria-sort=\"{sort}\" title=\"{e(tip)}\">"
                f"<button type=\"button\" class=\"sort\">{e(title)}{arrow}<span class=\"order\" aria-hidden=\"true\">"
                f"</span></button></th>")

    thead = "<thead><tr>" + "".join(head(i, *t) for i, t in enumerate(titles)) + "</tr></thead>"
    tabs, panels = [], []
    keys = list(dict.fromkeys(k_label(k) for k in table["K"]))
    for number, k in enumerate(keys):
        rows = table[table["K"].map(k_label) == k]
        label = "no buffer" if k == "-" else f"K = {k}"
        ident = f"k-{'none' if k == '-' else e(k)}"
        tabs.append(f"<button type=\"button\" role=\"tab\" id=\"tab-{ident}\" aria-controls=\"panel-{ident}\" "
                    f"aria-selected=\"{'true' if number == 0 else 'false'}\" data-k=\"{e(k)}\">{e(label)} "
                    f"<span class=\"count\">{len(rows)}</span></button>")
        bodies = []
        provisional = rows["provisional"].astype(bool) if "provisional" in rows else pd.Series(False, index=rows.index)
        for part, chosen in (("ranked", rows[~provisional]), ("provisional", rows[provisional])):
            if chosen.empty:
                continue
            if part == "provisional":
                bodies.append(f"<tbody class=\"divider\"><tr><th colspan=\"{len(titles)}\" scope=\"rowgroup\"><div>"
                              "Provisional rows: they lack some of the board's (person, seed) pairs, so they are "
                              "not ranked and their means are not comparable with the ranked rows'.</div></th></tr>"
                              "</tbody>")
            lines = []
            for index, row in chosen.iterrows():
                lines.append(_row(row, index, k, names, places, has_group, part == "provisional"))
            bodies.append(f"<tbody class=\"rows {part}\">{''.join(lines)}</tbody>")
        caption = (f"<caption>{e(label)}: {len(rows)} row{'s' * (len(rows) != 1)}"
                   + (" (strategies without a buffer, ranked among themselves)" if k == "-" else "")
                   + "</caption>")
        panels.append(f"<section class=\"panel{' active' if number == 0 else ''}\" role=\"tabpanel\" "
                      f"id=\"panel-{ident}\" aria-labelledby=\"tab-{ident}\" data-k=\"{e(k)}\">"
                      f"<h3 class=\"nojs\">{e(label)}</h3><div class=\"scroll\">"
                      f"<table class=\"board\" data-k=\"{e(k)}\">{caption}{thead}{''.join(bodies)}</table>"
                      "</div></section>")
    legend = [
        "Each cell: mean over the row's runs (persons × seeds) ± half-width of its 95% Student-t interval "
        "(— : one run, no interval; — alone: the summary does not exist, like a joint model's forgetting). "
        "↓ lower is better, ↑ higher is better; ×10: values printed times 10.",
        "Click a column's title to sort by it (again: the other way); the provisional rows sort apart.",
    ]
    if has_group:
        legend.insert(1, "Group: rows of one K that share a letter cannot be told apart by the board's paired "
                         "tests (Holm-corrected); the rows of group <span class=\"badge g0\">a</span> (the best) "
                         "are highlighted.")
    else:
        legend.insert(1, "This board's table has no tied groups (no group column).")
    notes = "".join(f"<li>{line}</li>" for line in legend)
    return ("<section id=\"table\"><h2>Ranked table</h2>"
            f"<div class=\"tabs\" role=\"tablist\" aria-label=\"buffer size K\">{''.join(tabs)}</div>"
            + "".join(panels) + f"<ul class=\"legend\">{notes}</ul></section>")


def _row(row, index: int, k: str, names: list[str], places: dict, has_group: bool, provisional: bool) -> str:
    group = _group(row) if has_group else ""
    classes = ["provisional"] if provisional else []
    if has_group and "a" in group:
        classes.append("top")
    rank = _number(row.get("rank"))
    cells = [_cell(rank, "num", "—" if math.isnan(rank) else str(int(rank)), "num")]
    if has_group:
        cells.append(_cell(group, "text", _badges(group), "group"))
    method = e(row["method"])
    mark = " <span class=\"mark\" title=\"provisional: not ranked\">provisional</span>" if provisional else ""
    short = " short" if len(str(row["method"])) <= 24 else ""
    cells.append(f"<th scope=\"row\" data-v=\"{method}\" class=\"method{short}\">"
                 f"<a href=\"#{_anchor(index)}\">{method}</a>"
                 f"{mark}</th>")
    cells.append(_cell(row["n"], "num", e(row["n"]), "num"))
    coverage = str(row.get("coverage", ""))
    text = e(coverage) if provisional else f"<span class=\"full\" title=\"{e(coverage)}\">full</span>"
    cells.append(_cell(coverage, "text", text, "coverage"))
    for name in names:
        mean, half = _number(row.get(name)), _number(row.get(name + "_ci95"))
        if math.isnan(mean):
            text = "—"
        else:
            text = (f"{mean:.{places[name]}f}<span class=\"pm\"> ± "
                    + (f"{half:.{places[name]}f}" if math.isfinite(half) else "—") + "</span>")
        cells.append(_cell(mean, "num", text, "num"))
    memory, total = _memory(row)
    cells.append(_cell(total, "num", e(memory), "num"))
    return (f"<tr class=\"{' '.join(classes)}\" data-k=\"{e(k)}\" data-group=\"{e(group)}\">"
            + "".join(cells) + "</tr>")


# The plots. ----------------------------------------------------------------------------------

def _data_uri(path: Path) -> str:
    kind = IMAGE_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return f"data:{kind};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


KNOWN = ("aip_forgetting_vs_k", "session0_over_time")


def _plot_order(path: Path) -> tuple:
    stem = path.stem
    match = re.fullmatch(r"cd_k(\d+)", stem)
    if stem.startswith("cd_"):
        return (0, int(match.group(1)) if match else -1, stem)
    if stem in KNOWN:
        return (1, KNOWN.index(stem), stem)
    return (2, 0, stem)


def caption(name: str) -> str:
    """A plot's caption from its file name."""
    stem = Path(name).stem
    if stem == "aip_forgetting_vs_k":
        return "AIP (top) and forgetting (bottom) against K, per method, with 95% intervals"
    if stem == "session0_over_time":
        return "Score on session 0 after training on each session t, per method"
    if stem.startswith("matrix_") and stem[7:] in SCORES:
        return f"Score matrices a[t][k] of {LABELS.get(stem[7:], stem[7:])}, per row (mean over its runs)"
    match = re.fullmatch(r"cd_k?(.+)", stem)
    if match:
        k = match.group(1)
        where = "the strategies without a buffer" if k in ("-", "none", "nobuffer", "no_buffer") else f"K = {k}"
        return f"Critical-difference diagram, {where}: average ranks over persons"
    return stem.replace("_", " ").replace("-", " ").strip().capitalize()


def _plots_section(plots: Path | None) -> str:
    if plots is None or not plots.is_dir():
        return ""
    files = sorted((path for path in plots.glob("*.png") if path.is_file()), key=_plot_order)
    if not files:
        return ""
    figures = "".join(
        f"<figure><img src=\"{_data_uri(path)}\" alt=\"{e(caption(path.name))}\">"
        f"<figcaption>{e(caption(path.name))} <code>{e(path.name)}</code></figcaption></figure>"
        for path in files)
    return f"<section id=\"plots\"><h2>Plots</h2>{figures}</section>"


# The findings. -------------------------------------------------------------------------------

def _safe_href(href: str) -> bool:
    """A link the page may keep: http(s), mailto, a fragment or a relative path (no other scheme)."""
    value = re.sub(r"[\x00-\x20]", "", href).lower()
    if value.startswith(SAFE_SCHEMES) or value.startswith("#"):
        return True
    return not re.match(r"^[a-z][a-z0-9+.-]*:", value) and not value.startswith("//")


def _fix_links(root: ElementTree.Element, bases: list[Path]) -> None:
    """Links kept only where safe; images inlined from their file (the first of ``bases`` that
    has it), else a link or their alt text."""
    for parent in root.iter():
        for child in list(parent):
            if child.tag == "a" and not _safe_href(child.get("href", "")):
                child.attrib.pop("href", None)
            if child.tag != "img":
                continue
            src, alt = child.get("src", ""), child.get("alt", "")
            local = src and _safe_href(src) and not src.lower().startswith(SAFE_SCHEMES + ("#",))
            targets = [base / src for base in bases] if local and Path(src).suffix.lower() in IMAGE_TYPES else []
            target = next((path for path in targets if path.is_file()), None)
            if target is not None:
                child.set("src", _data_uri(target))
                continue
            tail = child.tail
            child.clear()
            child.tail = tail
            if src.lower().startswith(("http:", "https:")):
                child.tag = "a"
                child.set("href", src)
                child.text = alt or src
            else:
                child.tag = "span"
                child.set("class", "missing-image")
                child.text = f"[image: {alt or src}]"


def render_markdown(text: str, *bases: Path) -> str:
    """Markdown as HTML: raw HTML shown as text, unsafe links dropped, images inlined (a path
    relative to the first of ``bases`` that has it) or replaced, so that nothing is loaded."""
    import markdown
    from markdown.treeprocessors import Treeprocessor

    class Links(Treeprocessor):
        def run(self, root):
            _fix_links(root, list(bases))

    converter = markdown.Markdown(extensions=["tables", "fenced_code", "sane_lists"])
    converter.preprocessors.deregister("html_block")
    converter.inlinePatterns.deregister("html")
    converter.treeprocessors.register(Links(converter), "facebench-links", 0)
    return converter.convert(text)


def _analysis_section(board: Board, table: pd.DataFrame, out: Path | None) -> str:
    """LEADERBOARD.md's analysis (``facebench.board.render.analysis``: what the board can tell
    apart, the plan's tests, the per-session diagnosis) as HTML, its images from ``out``."""
    lines = analysis(board, families(board, table))
    if not lines:
        return ""
    body = render_markdown("\n".join(lines), *([out] if out is not None else []))
    return f"<section id=\"analysis\"><div class=\"findings\">{body}</div></section>"


def _findings_section(findings: Path | None, out: Path | None = None) -> str:
    """FINDINGS.md as HTML; its images relative to its folder, else to the output folder."""
    if findings is None:
        return ""
    bases = [findings.parent] + ([out] if out is not None and out != findings.parent else [])
    body = render_markdown(findings.read_text(encoding="utf-8"), *bases)
    return f"<section id=\"findings\"><h2>Findings</h2><div class=\"findings\">{body}</div></section>"


# Per-person results. -------------------------------------------------------------------------

def _runs_section(board: Board, table: pd.DataFrame) -> str:
    runs = board.runs
    if runs.empty:
        return ""
    ordered = [PRIMARY] + [c for c in COLUMNS if c != PRIMARY]
    present = [(score, summary) for score, summary in ordered if f"{score}.{summary}" in runs]
    values = {(score, summary): scaled(runs, score, summary) for score, summary in present}
    places = {key: decimals([_number(v) for v in series]) for key, series in values.items()}
    keys = runs["K"].map(k_label)
    bold = ' class="primary"'
    titles = "".join(f"<th scope=\"col\"{bold if key == PRIMARY else ''}>{e(header(*key))}</th>" for key in present)
    blocks = []
    previous = None
    for index, row in table.iterrows():
        k = k_label(row["K"])
        if k != previous:
            blocks.append(f"<h3>{'No buffer' if k == '-' else e(f'K = {k}')}</h3>")
            previous = k
        mine = runs[(keys == k) & (runs["method"] == row["method"])]
        order = sorted(mine.index, key=lambda i: (person_key(str(mine.at[i, "person"])), int(mine.at[i, "seed"])))
        lines = []
        for position, run in mine.loc[order].iterrows():
            cells = []
            for key in present:
                value = _number(values[key].loc[position])
                cells.append(f"<td class=\"num{' primary' if key == PRIMARY else ''}\">"
                             + ("—" if math.isnan(value) else f"{value:.{places[key]}f}") + "</td>")
            lines.append(f"<tr><th scope=\"row\">{e(run['person'])}</th><td class=\"num\">{e(run['seed'])}</td>"
                         + "".join(cells) + "</tr>")
        provisional = " <span class=\"mark\">provisional</span>" if bool(row.get("provisional", False)) else ""
        where = "no buffer" if k == "-" else f"K = {k}"
        rank = _number(row.get("rank"))
        ranked = "" if math.isnan(rank) else f"{int(rank)}. "
        group = f" {_badges(_group(row))}" if GROUP in table.columns and _group(row) else ""
        blocks.append(
            f"<details id=\"{_anchor(index)}\"><summary>{ranked}<span class=\"method\">{e(row['method'])}</span> · "
            f"{e(where)} · {len(mine)} run{'s' * (len(mine) != 1)}{provisional}{group}</summary>"
            "<div class=\"scroll\"><table class=\"runs\"><thead><tr><th scope=\"col\">person</th>"
            f"<th scope=\"col\">seed</th>{titles}</tr></thead><tbody>{''.join(lines)}</tbody></table></div></details>")
    return ("<section id=\"runs\"><h2>Per-person results</h2>"
            f"<p class=\"note\">One line per run (person, seed): {e(header(*PRIMARY))} (the primary column, "
            f"in bold), then every other board column ({e(', '.join(SUMMARIES.values()))} as in the table).</p>"
            + "".join(blocks) + "</section>")


# Style and script. ---------------------------------------------------------------------------

STYLE = """
:root{--fg:#1d232b;--muted:#5b6572;--line:#d5dbe3;--bg:#fff;--soft:#f4f6f9;--top:#fff6d6;--accent:#1f5fbf;
--prov:#fbeaea;--prov-fg:#9b1c1c}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0 auto;max-width:1240px;padding:16px 20px 48px;color:var(--fg);background:var(--bg);
font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;overflow-wrap:break-word}
h1{font-size:1.6rem;margin:.2em 0 .6em}h2{font-size:1.3rem;margin:1.6em 0 .6em;border-bottom:1px solid var(--line)}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.88em}
a{color:var(--accent)}
.facts{display:grid;grid-template-columns:max-content minmax(0,1fr);gap:4px 16px;margin:0}
.facts dt{font-weight:600;color:var(--muted)}.facts dd{margin:0;min-width:0}
.hash{word-break:break-all}
.provenance{margin:0;padding:0;list-style:none;display:flex;flex-wrap:wrap;gap:0 18px}
.provenance .what{color:var(--muted)}
.skipped{margin-top:8px;color:var(--prov-fg)}
.tabs{display:none;flex-wrap:wrap;gap:6px;margin:0 0 10px}.js .tabs{display:flex}
.tabs button{font:inherit;padding:5px 14px;border:1px solid var(--line);border-radius:16px;background:var(--soft);
cursor:pointer;color:var(--fg)}
.tabs button[aria-selected=true]{background:var(--accent);border-color:var(--accent);color:#fff}
.tabs .count{font-size:.8em;opacity:.75}
.js .panel{display:none}.js .panel.active{display:block}.js .nojs{display:none}
.scroll{overflow-x:auto;max-width:100%;border:1px solid var(--line);border-radius:6px}
table{border-collapse:collapse}
table.board{width:100%;font-size:.88rem}
table.board caption{caption-side:top;text-align:left;padding:6px 8px;color:var(--muted);font-size:.85rem}
table.board th,table.board td{padding:5px 8px;border-bottom:1px solid var(--line);vertical-align:top}
table.board thead th{background:var(--soft);vertical-align:bottom;text-align:left;padding:0;min-width:4.5em}
table.board thead th button.sort{all:unset;box-sizing:border-box;display:block;width:100%;padding:6px 8px;
cursor:pointer;font-weight:600;line-height:1.25;white-space:normal}
table.board thead th[data-type=num] button.sort{text-align:right}
table.board thead th button.sort:focus-visible{outline:2px solid var(--accent)}
table.board thead th[aria-sort=ascending] .order::after{content:" ▲";color:var(--accent)}
table.board thead th[aria-sort=descending] .order::after{content:" ▼";color:var(--accent)}
.dir{color:var(--accent)}
td.num{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
td.num .pm{color:var(--muted)}
th.method{text-align:left;font-weight:600;min-width:8em;max-width:18em}th.method.short{white-space:nowrap}
table.board th.method,table.board th.col-method{position:sticky;left:0;z-index:1;background:var(--bg);
box-shadow:inset -1px 0 0 var(--line)}
table.board thead th.col-method{background:var(--soft);z-index:2}
table.board tr.top th.method{background:var(--top)}table.board tr.provisional th.method{background:var(--prov)}
td.coverage{font-size:.82rem;color:var(--muted)}
tr.provisional td.coverage{min-width:12em}
.full{color:#17692f;font-weight:600}
.mark{display:inline-block;font-size:.72rem;font-weight:700;text-transform:uppercase;letter-spacing:.03em;
color:var(--prov-fg);border:1px solid var(--prov-fg);border-radius:4px;padding:0 4px;margin-left:2px}
tr.provisional{background:var(--prov)}
tr.provisional td,tr.provisional th{color:#6b3a3a;font-style:italic}
tr.top{background:var(--top)}
tbody.divider th{background:var(--prov);color:var(--prov-fg);font-weight:600;font-size:.82rem;text-align:left;
border-top:2px solid var(--prov-fg)}
tbody.divider th div{position:sticky;left:8px;display:inline-block;max-width:calc(100vw - 90px);white-space:normal}
td.group{white-space:nowrap}
.badge{display:inline-block;min-width:1.4em;text-align:center;font-weight:700;font-size:.78rem;border-radius:9px;
padding:0 5px;margin:0 1px;color:#fff;font-style:normal}
.g0{background:#b7791f}.g1{background:#2b6cb0}.g2{background:#2f855a}.g3{background:#805ad5}
.g4{background:#c53030}.g5{background:#2c7a7b}.g6{background:#975a16}.g7{background:#4a5568}
.none{color:var(--muted)}
.legend{color:var(--muted);font-size:.85rem;padding-left:1.2em}
figure{margin:0 0 24px}figure img{display:block;max-width:100%;height:auto;border:1px solid var(--line);
border-radius:4px}
figcaption{color:var(--muted);font-size:.88rem;margin-top:4px}
.findings{max-width:100%}
.findings pre{overflow-x:auto;background:var(--soft);padding:8px 10px;border-radius:4px}
.findings table{display:block;overflow-x:auto;max-width:100%;font-size:.86rem}
.findings th,.findings td{border:1px solid var(--line);padding:3px 7px}.findings td{white-space:nowrap}
.findings img{max-width:100%;height:auto}
.missing-image{color:var(--muted);font-style:italic}
details{margin:4px 0;border:1px solid var(--line);border-radius:6px;padding:4px 10px}
details[open]{padding-bottom:10px}
summary{cursor:pointer}summary .method{font-weight:600}
#runs h3{font-size:1rem;margin:14px 0 6px;color:var(--muted)}
table.runs{font-size:.84rem;margin-top:6px}
table.runs th,table.runs td{padding:3px 8px;border-bottom:1px solid var(--line)}
table.runs thead th{background:var(--soft);text-align:left;font-weight:600;vertical-align:bottom;min-width:4.5em}
table.runs .primary{font-weight:700}
.note{color:var(--muted);font-size:.88rem}
@media (max-width:900px){body{padding:12px 12px 40px;font-size:14px}}
@media (max-width:560px){.facts{grid-template-columns:minmax(0,1fr)}.facts dt{margin-top:4px}}
"""

SCRIPT = r"""
(function(){
  function value(cell, type){
    var v = cell ? cell.getAttribute('data-v') : '';
    if (v === null || v === '') return null;
    return type === 'num' ? parseFloat(v) : v;
  }
  function sortTable(th){
    var table = th.closest('table');
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var type = th.getAttribute('data-type');
    var ascending = th.getAttribute('aria-sort') !== 'ascending';
    table.querySelectorAll('thead th').forEach(function(h){ h.setAttribute('aria-sort', 'none'); });
    th.setAttribute('aria-sort', ascending ? 'ascending' : 'descending');
    table.querySelectorAll('tbody.rows').forEach(function(body){
      var rows = Array.prototype.slice.call(body.rows);
      rows.forEach(function(row, i){ if (!row.hasAttribute('data-i')) row.setAttribute('data-i', i); });
      rows.sort(function(a, b){
        var x = value(a.cells[index], type), y = value(b.cells[index], type);
        if (x === null || y === null) {
          if (x === null && y === null) return a.getAttribute('data-i') - b.getAttribute('data-i');
          return x === null ? 1 : -1;
        }
        var c = type === 'num' ? x - y : x.localeCompare(y, undefined, {numeric: true});
        if (c === 0) return a.getAttribute('data-i') - b.getAttribute('data-i');
        return ascending ? c : -c;
      });
      rows.forEach(function(row){ body.appendChild(row); });
    });
  }
  document.querySelectorAll('table.board thead th').forEach(function(th){
    th.addEventListener('click', function(){ sortTable(th); });
  });
  function reveal(){
    var target = location.hash && document.getElementById(location.hash.slice(1));
    if (target && target.tagName === 'DETAILS') target.open = true;
  }
  window.addEventListener('hashchange', reveal); reveal();
  var tabs = document.querySelectorAll('.tabs [role=tab]');
  function select(tab){
    tabs.forEach(function(t){
      var on = t === tab;
      t.setAttribute('aria-selected', on ? 'true' : 'false');
      t.tabIndex = on ? 0 : -1;
      var panel = document.getElementById(t.getAttribute('aria-controls'));
      if (panel) panel.classList.toggle('active', on);
    });
  }
  tabs.forEach(function(tab, i){
    tab.tabIndex = i === 0 ? 0 : -1;
    tab.addEventListener('click', function(){ select(tab); });
    tab.addEventListener('keydown', function(event){
      var step = event.key === 'ArrowRight' ? 1 : event.key === 'ArrowLeft' ? -1 : 0;
      if (!step) return;
      var next = tabs[(i + step + tabs.length) % tabs.length];
      select(next); next.focus(); event.preventDefault();
    });
  });
})();
"""
