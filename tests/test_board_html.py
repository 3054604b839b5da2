"""The leaderboard's web page (``facebench leaderboard DIR --format html``): self-contained,
escaped, laid out without overlap or overflow at 1280 and 800 px, sortable, with K tabs,
provisional rows and tied groups marked; checked in headless Chromium (Debian's package)."""

import re
import shutil
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image, ImageDraw, ImageStat

import fake_results
from facebench.board import aggregate as ag
from facebench.board import html as board_html
from facebench.board import load as lb
from facebench.board import ranking
from facebench.board.aggregate import PRIMARY, column
from facebench.cli import main

SCENARIO = "faceworld"
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
HOSTILE = "<script>alert(1)"
"""A parameter value that makes a method's name markup (no '/': it names a folder too)."""
FINDINGS = """# Findings

Finding 1 <script>alert("findings")</script> is <b>bold</b> only as text; the paper:
[Wang et al.](https://openaccess.thecvf.com/WACV2025) and a bad link [click](javascript:alert(2)).

![inlined](plots/aip_forgetting_vs_k.png) ![remote](https://example.com/remote.png) ![gone](nothing.png)

| row | value |
|---|---|
| er-hull | 2.18 ± 0.12 |
"""


@pytest.fixture(scope="module")
def board_dir(tmp_path_factory):
    """naive, joint (no buffer); er-rand, er-hull at K 3 and 5; a method named with markup at K 3
    (persons 0-2, seed 0); kmeans at K 3 on person 0 only (provisional); a FINDINGS.md."""
    out = tmp_path_factory.mktemp("results")
    fake_results.write_board(out, scenario=SCENARIO)
    for person in ("0", "1", "2"):
        data = fake_results.result("er-rand", 3, person, 0, SCENARIO, quality=0.7)
        fake_results.write(fake_results.with_params(data, tag=HOSTILE), out)
    fake_results.write(fake_results.result("kmeans", 3, "0", 0, SCENARIO, quality=2.0), out)
    (out / SCENARIO / "FINDINGS.md").write_text(FINDINGS, encoding="utf-8")
    return out / SCENARIO


@pytest.fixture(scope="module")
def built(board_dir, tmp_path_factory):
    """The page as the command writes it, into --out."""
    out = tmp_path_factory.mktemp("page")
    (out / "plots").mkdir()
    assert main(["leaderboard", str(board_dir), "--out", str(out), "--format", "html"]) == 0
    return out


def groups(table: pd.DataFrame) -> pd.DataFrame:
    """``table`` with a ``group`` column as the board's ranking writes it: letters of a compact
    letter display by rank within each K ("a", "ab", "b", "bc", ...), '' for provisional rows."""
    letters = []
    for rank in table["rank"]:
        if pd.isna(rank):
            letters.append("")
        else:
            first = "abcdefgh"[(int(rank) - 1) // 2]
            letters.append(first + ("abcdefgh"[(int(rank) - 1) // 2 + 1] if int(rank) % 2 == 0 else ""))
    return table.assign(group=letters)


def cd_diagram(path: Path) -> None:
    """A stand-in for a critical-difference diagram: a PNG with something drawn on it."""
    image = Image.new("RGB", (480, 160), "white")
    draw = ImageDraw.Draw(image)
    draw.line((20, 80, 460, 80), fill="black", width=3)
    draw.rectangle((100, 60, 220, 100), outline="navy", width=4)
    image.save(path)


@pytest.fixture(scope="module")
def grouped(board_dir, built, tmp_path_factory):
    """The page of a table with a ``group`` column, and a cd_k3.png among the plots."""
    out = tmp_path_factory.mktemp("grouped")
    shutil.copytree(built / "plots", out / "plots")
    cd_diagram(out / "plots" / "cd_k3.png")
    board = lb.load(board_dir)
    return board_html.write_html(board, groups(ag.aggregate(board)), out, source=board_dir)


@pytest.fixture(scope="module")
def ungrouped(board_dir, built, tmp_path_factory):
    """The page of a table without a ``group`` column."""
    out = tmp_path_factory.mktemp("ungrouped")
    shutil.copytree(built / "plots", out / "plots")
    board = lb.load(board_dir)
    table = ag.aggregate(board).drop(columns=["group"], errors="ignore")
    return board_html.write_html(board, table, out, source=board_dir)


# Without a browser. --------------------------------------------------------------------------

def test_the_command_writes_one_page_into_out_and_not_into_the_board(built, board_dir, capsys):
    page = built / "leaderboard.html"
    assert page.is_file() and not (board_dir / "leaderboard.html").exists()
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!doctype html>") and "faceworld" in text
    # every plot the command wrote is inlined, with a caption
    for png in sorted((built / "plots").glob("*.png")):
        assert png.name in text
    assert text.count('<img src="data:image/png;base64,') >= len(list((built / "plots").glob("*.png")))


def test_the_page_loads_no_resource_from_elsewhere(grouped, built):
    for page in (grouped, built / "leaderboard.html"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"""\bsrc\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//""", text, re.I)
        assert not re.search(r"""url\(\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//""", text, re.I)
        assert not re.search(r"<link\b|@import", text, re.I)
        srcs = re.findall(r"""\bsrc\s*=\s*["']([^"']*)""", text)
        assert srcs and all(src.startswith("data:image/") for src in srcs)
        # an absolute href only on a link (<a>) the reader follows, never on what the page loads
        for tag in re.findall(r"""<(\w+)[^>]*\bhref\s*=\s*["']?\s*(?:https?:)?//""", text, re.I):
            assert tag.lower() == "a"
        assert "default-src 'none'" in text  # the Content-Security-Policy forbids any other load


def test_text_from_files_is_escaped(grouped):
    text = grouped.read_text(encoding="utf-8")
    assert HOSTILE not in text and "&lt;script&gt;alert(1)" in text
    assert '<script>alert("findings")' not in text and '&lt;script&gt;alert("findings")&lt;/script&gt;' in text
    assert "&lt;b&gt;bold&lt;/b&gt;" in text and "<b>bold</b>" not in text
    assert len(re.findall(r"<script\b", text)) == 2  # the page's own two
    assert "javascript:" not in text
    assert '<a href="https://openaccess.thecvf.com/WACV2025">Wang et al.</a>' in text
    assert '<a href="https://example.com/remote.png">remote</a>' in text  # a remote image becomes a link
    assert "[image: gone]" in text and "[image: inlined]" not in text  # plots/... found in the output folder
    assert "<td>er-hull</td>" in text  # the findings' table


def test_markdown_raw_html_and_bad_links_are_text_or_dropped(tmp_path):
    (tmp_path / "pic.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    out = board_html.render_markdown(
        '<img src=x onerror="alert(1)"> [a](  JavaScript:alert(1)) [b](data:text/html,x) [c](#x) [d](../docs/x.md) '
        "![p](pic.png) <http://example.org/paper>", tmp_path)
    assert "<img src=x" not in out and "&lt;img src=x" in out
    assert "javascript" not in out.lower() and "data:text" not in out
    assert '<a href="#x">c</a>' in out and '<a href="../docs/x.md">d</a>' in out
    assert 'src="data:image/png;base64,' in out
    assert '<a href="http://example.org/paper">' in out


def test_the_page_has_a_tab_per_k_and_a_details_per_row(grouped, board_dir):
    text = grouped.read_text(encoding="utf-8")
    table = ag.aggregate(lb.load(board_dir))
    assert re.findall(r'role="tab"[^>]*data-k="([^"]*)"', text) == ["-", "3", "5"]
    assert text.count("<details id=\"runs-") == len(table)
    assert "cd_k3.png" in text and "Critical-difference diagram, K = 3" in text
    # the critical-difference diagram comes first among the plots
    figures = re.findall(r"<code>([\w.-]+\.png)</code>", text)
    assert figures[0] == "cd_k3.png"


# In Chromium. --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian's chromium package): the page's browser tests need it")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()


def open_page(browser, path: Path, width: int, height: int = 900):
    """The page at ``width`` x ``height``, and the URLs it requested."""
    page = browser.new_page(viewport={"width": width, "height": height})
    requested, errors = [], []
    page.on("request", lambda request: requested.append(request.url))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, requested, errors


def header_boxes(page):
    """The bounding boxes of the visible board table's header cells."""
    return page.eval_on_selector_all(
        ".panel.active table.board thead th",
        "cells => cells.map(c => { const r = c.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })")


def overlap(a, b) -> bool:
    """Whether two boxes overlap by more than a rounding pixel."""
    return min(a[2], b[2]) - max(a[0], b[0]) > 1 and min(a[3], b[3]) - max(a[1], b[1]) > 1


@pytest.mark.parametrize("width", [1280, 800])
def test_the_page_lays_out_without_overlap_or_overflow(browser, grouped, tmp_path, width):
    page, requested, errors = open_page(browser, grouped, width)
    try:
        assert requested == [grouped.as_uri()]  # the page itself, nothing else
        assert errors == []
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert page.evaluate("document.body.scrollWidth <= window.innerWidth")
        # the table is wider than the page at 800 px and scrolls inside its own container
        for tab in page.query_selector_all(".tabs [role=tab]"):
            tab.click()
            boxes = header_boxes(page)
            assert len(boxes) >= 15 and all(b[2] > b[0] and b[3] > b[1] for b in boxes)
            assert not [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes))
                        if overlap(boxes[i], boxes[j])]
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        widths = page.eval_on_selector_all("img", "images => images.map(i => i.complete ? i.naturalWidth : 0)")
        assert len(widths) >= 6 and all(w > 0 for w in widths)
        page.query_selector(".tabs [role=tab]").click()
        shot = tmp_path / f"page-{width}.png"
        page.screenshot(path=str(shot))
        image = Image.open(shot).convert("L")
        assert image.size == (width, 900)
        assert ImageStat.Stat(image).var[0] > 100  # not blank
        assert requested == [grouped.as_uri()]
    finally:
        page.close()


def column_values(page, index: int, body: str = "ranked"):
    return page.eval_on_selector_all(
        f".panel.active table.board tbody.rows.{body} tr",
        f"rows => rows.map(r => r.cells[{index}].getAttribute('data-v'))")


def header_index(page, text: str) -> int:
    titles = page.eval_on_selector_all(".panel.active table.board thead th", "cells => cells.map(c => c.innerText)")
    return next(i for i, title in enumerate(titles) if title.startswith(text))


def test_clicking_a_column_title_sorts_by_it_and_again_the_other_way(browser, grouped):
    page, _, errors = open_page(browser, grouped, 1280)
    try:
        page.click(".tabs [role=tab][data-k='3']")
        titles = page.eval_on_selector_all(".panel.active table.board thead th",
                                           "cells => cells.map(c => c.getAttribute('title'))")
        primary = next(i for i, t in enumerate(titles) if t.startswith(column(*PRIMARY) + ":"))
        psnr = next(i for i, t in enumerate(titles) if t.startswith("recon_psnr_aip:"))
        heads = page.query_selector_all(".panel.active table.board thead th")
        before = [float(v) for v in column_values(page, psnr)]
        assert len(before) == 3 and before != sorted(before)  # ranked by the primary column, not by PSNR
        heads[psnr].click()
        values = [float(v) for v in column_values(page, psnr)]
        assert values == sorted(before) and heads[psnr].get_attribute("aria-sort") == "ascending"
        assert heads[primary].get_attribute("aria-sort") == "none"
        heads[psnr].click()
        values = [float(v) for v in column_values(page, psnr)]
        assert values == sorted(before, reverse=True) and heads[psnr].get_attribute("aria-sort") == "descending"
        # the provisional row stays apart, after the ranked ones, whatever the order
        assert len(column_values(page, psnr, "provisional")) == 1
        # text columns sort as text
        method = header_index(page, "method")
        heads[method].click()
        names = column_values(page, method)
        assert names == sorted(names)
        heads[method].click()
        assert column_values(page, method) == sorted(names, reverse=True)
        # the rank column sorts back to the board's order
        heads[0].click()
        assert [float(v) for v in column_values(page, 0)] == [1, 2, 3]
        assert errors == []
    finally:
        page.close()


def test_a_k_tab_shows_that_ks_rows_only(browser, grouped, board_dir):
    table = ag.aggregate(lb.load(board_dir))
    page, _, _ = open_page(browser, grouped, 1280)
    try:
        for k in ("5", "3", "-"):
            page.click(f".tabs [role=tab][data-k='{k}']")
            visible = [row for row in page.query_selector_all("table.board tbody.rows tr") if row.is_visible()]
            assert {row.get_attribute("data-k") for row in visible} == {k}
            assert len(visible) == int((table["K"].map(ag.k_label) == k).sum())
            assert page.get_attribute(f".tabs [role=tab][data-k='{k}']", "aria-selected") == "true"
            assert sum(tab.get_attribute("aria-selected") == "true"
                       for tab in page.query_selector_all(".tabs [role=tab]")) == 1
    finally:
        page.close()


def test_provisional_rows_and_tied_groups_are_marked(browser, grouped):
    page, _, _ = open_page(browser, grouped, 1280)
    try:
        page.click(".tabs [role=tab][data-k='3']")
        row = page.query_selector(".panel.active tbody.rows.provisional tr")
        assert "provisional" in row.get_attribute("class") and "kmeans" in row.inner_text()
        assert row.query_selector(".mark").is_visible() and row.query_selector("td").inner_text() == "—"
        assert page.query_selector(".panel.active tbody.divider").is_visible()
        ranked = page.query_selector(".panel.active tbody.rows.ranked tr")
        style = "e => getComputedStyle(e).backgroundColor"
        assert row.evaluate(style) != ranked.evaluate(style) or "top" in ranked.get_attribute("class")
        # groups: a badge per letter; the rows of group a highlighted, the others not
        rows = page.query_selector_all(".panel.active tbody.rows.ranked tr")
        assert [r.get_attribute("data-group") for r in rows] == ["a", "ab", "b"]
        assert [len(r.query_selector_all(".badge")) for r in rows] == [1, 2, 1]
        assert ["top" in r.get_attribute("class") for r in rows] == [True, True, False]
        assert rows[0].evaluate(style) != rows[2].evaluate(style)
        assert row.query_selector_all(".badge") == []
    finally:
        page.close()


def test_without_a_group_column_the_page_has_no_group_column(browser, ungrouped):
    text = ungrouped.read_text(encoding="utf-8")
    section = text.split('<section id="table">')[1].split("</section>\n")[0]
    assert "badge" not in section and "no tied groups" in section
    page, requested, errors = open_page(browser, ungrouped, 800)
    try:
        titles = page.eval_on_selector_all(".panel.active table.board thead th", "cells => cells.map(c => c.innerText)")
        assert titles[1].startswith("method")
        assert not any(title.startswith("group") for title in titles)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert requested == [ungrouped.as_uri()] and errors == []
    finally:
        page.close()


def test_a_methods_link_opens_its_per_person_results(browser, grouped, board_dir):
    page, _, _ = open_page(browser, grouped, 1280)
    try:
        page.click(".tabs [role=tab][data-k='5']")
        link = page.query_selector(".panel.active tbody.rows.ranked th.method a")
        target = link.get_attribute("href")[1:]
        link.click()
        details = page.query_selector(f"details#{target}")
        assert details.evaluate("d => d.open")
        lines = details.query_selector_all("tbody tr")
        assert [line.query_selector("th").inner_text() for line in lines] == ["0", "1", "2"]
    finally:
        page.close()


def test_the_commands_page_marks_the_boards_tied_groups(built, board_dir):
    board = lb.load(board_dir)
    expected = ranking.with_groups(board, ag.aggregate(board))["group"].tolist()
    text = (built / "leaderboard.html").read_text(encoding="utf-8")
    assert re.findall(r'<tr class="[^"]*" data-k="[^"]*" data-group="([^"]*)"', text) == expected
    assert any(expected) and 'class="badge g0"' in text


def test_the_page_carries_the_boards_analysis_as_leaderboard_md_does(built):
    text = (built / "leaderboard.html").read_text(encoding="utf-8")
    analysis = text[text.index('<section id="analysis">'):]
    analysis = analysis[:analysis.index("</section>")]
    for heading in ("What this board can tell apart", "The paper&#x27;s findings as the plan&#x27;s tests",
                    "Why a policy wins or not: per-session diagnosis"):
        assert f"<h2>{heading}</h2>" in analysis.replace("'", "&#x27;")
    assert "<table>" in analysis and 'src="data:image/png;base64,' in analysis  # the CD diagrams, inlined
