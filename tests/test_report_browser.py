"""The report opened in a real headless browser (Debian's chromium, driven by Playwright): it loads with no console
errors and no network requests, every image renders, every table has rows, and a screenshot is written beside it.
With FACEBENCH_SCREENSHOT=PATH the smoke report's test also saves a small PNG of the report's top there.
Skips, saying why, without /usr/bin/chromium or the playwright module (.ci/browser-up installs chromium);
FACEBENCH_REQUIRE_BROWSER (set by CI) turns that skip into a failure."""

from __future__ import annotations

import importlib.util
import os
import struct
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
# No browser download is possible here, so Playwright drives the system chromium. The machines have no network and
# tests run as root: no sandbox, no GPU, and every background service that would phone home (updates, sync, QUIC
# probes) off. Unknown hosts resolve to nothing, so even a request the checks miss cannot leave the machine.
# Playwright gives each launch a fresh temporary profile (--user-data-dir) and deletes it on close.
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",
]
VIEWPORT = {"width": 1280, "height": 900}
TOP = {"x": 0, "y": 0, "width": 1280, "height": 800}  # the FACEBENCH_SCREENSHOT picture: the report's first screen

# Each table named by what a reader can find it by: its id, its caption, its class and data-key, else its position
# and the heading above it. Rows: body rows, or rows after the first where the table has no tbody/thead split.
TABLES_JS = """() => [...document.querySelectorAll('table')].map((t, i) => {
  const heading = (() => { let e = t; while (e && !/^H[1-6]$/.test(e.tagName)) e = e.previousElementSibling
    || e.parentElement; return e ? e.textContent.trim() : ''; })();
  const name = t.id ? '#' + t.id : t.caption ? t.caption.textContent.trim()
    : t.className ? 'table.' + t.className + (t.dataset.key ? '[' + t.dataset.key + ']' : '')
    : 'table ' + (i + 1) + ' under "' + heading + '"';
  const body = t.querySelectorAll(':scope > tbody > tr').length;
  const rows = t.tHead ? body : Math.max(t.rows.length - 1, 0);
  return {name, rows};
})"""
IMAGES_JS = """() => [...document.images].map(i => ({
  src: i.getAttribute('src') || '', alt: i.alt, complete: i.complete, width: i.naturalWidth}))"""


def browser_problem() -> str | None:
    """Why the browser test cannot run here, or None."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright module is not installed (pip install -r requirements.txt)"
    if not CHROMIUM.is_file():
        return f"{CHROMIUM} is absent; .ci/browser-up installs Debian's chromium (root, apt-get)"
    return None


def need_browser() -> None:
    problem = browser_problem()
    if problem and os.environ.get("FACEBENCH_REQUIRE_BROWSER"):
        pytest.fail(f"FACEBENCH_REQUIRE_BROWSER is set but {problem}")
    if problem:
        pytest.skip(problem)


@dataclass
class PageVisit:
    """What the browser saw while loading one page, and how long each step took."""

    url: str
    console: list[tuple[str, str]] = field(default_factory=list)  # (type, text)
    page_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    images: list[dict] = field(default_factory=list)
    tables: list[dict] = field(default_factory=list)
    widths: tuple[int, int] = (0, 0)  # (the page's scroll width, the window's width)
    screenshot: Path | None = None
    seconds: dict[str, float] = field(default_factory=dict)


def visit(html: Path, screenshot: Path, top: Path | None = None) -> PageVisit:
    """Opens ``html`` from file:// in chromium, records everything the checks need and writes a full-page screenshot
    (and, with ``top``, a small one of the page's first screen)."""
    from playwright.sync_api import sync_playwright

    seen = PageVisit(url=html.resolve().as_uri())
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seen.seconds[step] = round(now - clock, 2)
        clock = now

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT)

            # Every request is recorded; one leaving file:// and data: is aborted before it is sent, and fails.
            def only_local(route):
                if route.request.url.startswith(("file:", "data:")):
                    route.continue_()
                else:
                    route.abort("blockedbyclient")

            context.route("**/*", only_local)
            context.on("request", lambda request: seen.requests.append(request.url))
            page = context.new_page()
            page.on("websocket", lambda ws: seen.requests.append(ws.url))
            page.on("console", lambda msg: seen.console.append((msg.type, msg.text)))
            page.on("pageerror", lambda error: seen.page_errors.append(f"{error.name}: {error.message}"))
            lap("launch")
            page.goto(seen.url, wait_until="load")
            lap("load")
            seen.images = page.evaluate(IMAGES_JS)
            seen.tables = page.evaluate(TABLES_JS)
            seen.widths = tuple(page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]"))
            lap("inspect")
            page.screenshot(path=str(screenshot), full_page=True)
            seen.screenshot = screenshot
            if top is not None:
                page.screenshot(path=str(top), clip=TOP)
                shrink_png(top)
            lap("screenshot")
        finally:
            browser.close()
    return seen


def problems(seen: PageVisit) -> list[str]:
    """Everything wrong with a visit, one line each; empty for a clean page."""
    out = [f"console {kind}: {text}" for kind, text in seen.console if kind == "error"]
    out += [f"page error: {error}" for error in seen.page_errors]
    out += [f"network request: {url[:200]}" for url in seen.requests if url != seen.url and not url.startswith("data:")]
    if not seen.images:
        out.append("no <img> on the page")
    out += [
        f"image not rendered: {i['alt'] or i['src'][:80]!r}"
        for i in seen.images
        if not (i["complete"] and i["width"] > 0)
    ]
    out += [f"table without rows: {t['name']}" for t in seen.tables if t["rows"] < 1]
    if seen.widths[0] > seen.widths[1]:
        out.append(f"page wider than the window: {seen.widths[0]} px in {seen.widths[1]} px (scrolls sideways)")
    return out


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header, failing if it is not a PNG."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR", f"{path} is not a PNG"
    return struct.unpack(">II", head[16:24])


def shrink_png(path: Path) -> None:
    """Rewrites a PNG with 256 colours where PIL is available (a 1280x800 page shot then stays well under 150 KB)."""
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        small = image.convert("RGB").quantize(colors=256)
    small.save(path, optimize=True)


def not_blank(path: Path) -> bool:
    """Whether an image holds more than one flat colour (a page that failed to paint is all white)."""
    from PIL import Image

    with Image.open(path) as image:
        low, high = image.convert("L").getextrema()
    return high - low > 64


def report_failure(seen: PageVisit) -> str:
    warnings = [text for kind, text in seen.console if kind == "warning"]
    return "\n".join(problems(seen) + [f"console warning: {text}" for text in warnings])


CLEAN_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>clean</title></head><body>
<img alt="one red pixel" src="data:image/png;base64,{pixel}">
<table id="scores"><thead><tr><th>model</th></tr></thead><tbody><tr><td>a</td></tr></tbody></table>
<table><tr><th>plain</th></tr><tr><td>row</td></tr></table>
</body></html>"""
# one red pixel, so that the clean page needs nothing but data: URLs
PIXEL = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"


def test_the_checks_pass_a_clean_page(tmp_path):
    need_browser()
    page = tmp_path / "clean.html"
    page.write_text(CLEAN_PAGE.format(pixel=PIXEL))
    seen = visit(page, tmp_path / "clean.png")
    assert problems(seen) == [], report_failure(seen)
    assert seen.requests == [seen.url] and [t["rows"] for t in seen.tables] == [1, 1]
    assert png_size(seen.screenshot) == (VIEWPORT["width"], VIEWPORT["height"]) and not_blank(seen.screenshot)


def test_the_checks_catch_each_problem_of_a_broken_page(tmp_path):
    need_browser()
    page = tmp_path / "broken.html"
    page.write_text(
        CLEAN_PAGE.format(pixel=PIXEL).replace(
            "</body>",
            '<img alt="remote" src="http://example.invalid/x.png">'
            '<table id="empty"><thead><tr><th>x</th></tr></thead><tbody></tbody></table>'
            "<table><caption>header only</caption><tr><th>x</th></tr></table>"
            '<div style="width: 5000px">wide</div>'
            "<script>console.error('boom'); undefined_function();</script></body>",
        )
    )
    found = "\n".join(problems(visit(page, tmp_path / "broken.png")))
    for expected in [
        "console error: boom",
        "page error: ReferenceError: undefined_function is not defined",
        "network request: http://example.invalid/x.png",
        "image not rendered: 'remote'",
        "table without rows: #empty",
        "table without rows: header only",
        "page wider than the window: ",
    ]:
        assert expected in found, f"{expected!r} not among the problems found:\n{found}"
    assert "one red pixel" not in found and "#scores" not in found


@pytest.mark.integration
def test_the_smoke_report_renders_in_chromium(smoke_run):
    """Plumbing: the smoke run's report, on the real or the generated data (tests/smoke.py)."""
    need_browser()
    report = smoke_run.work / "report" / "index.html"
    top = os.environ.get("FACEBENCH_SCREENSHOT")
    seen = visit(report, report.parent / "screenshot.png", top=Path(top) if top else None)
    print(f"\nscreenshot of the report: {seen.screenshot} ({seen.seconds} s)")
    assert problems(seen) == [], report_failure(seen)
    assert seen.tables, "no <table> on the page"
    width, height = png_size(seen.screenshot)
    # full page: at least the viewport's width, and taller than one screen (the report is many screens long)
    assert width >= VIEWPORT["width"] and VIEWPORT["height"] < height < 200_000, (width, height)
    assert not_blank(seen.screenshot), f"{seen.screenshot} is one flat colour"
