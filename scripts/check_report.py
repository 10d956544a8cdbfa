#!/usr/bin/env python3
"""Open a `sigctl eval` report in a real browser (Debian's chromium, driven by Playwright) and check it.

    apt-get install chromium && pip install playwright     # no `playwright install`: no browser download
    python scripts/check_report.py out/eval/NAME/report.html [--screenshot shot.png]

Checks, from the page as the browser rendered it: it opened from file:// and asked for nothing
else (every request the page made is a file: or data: URI), every image decoded (naturalWidth > 0),
the scores table and the how-to-read sentence are there, and the loss charts (when the report has
them) drew a line. Writes a full-page screenshot. Exits 1 naming the first failed check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"


def check(report: Path, screenshot: Path) -> list[str]:
    from playwright.sync_api import sync_playwright

    problems: list[str] = []
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 900})
        page.on("request", lambda request: requested.append(request.url))
        errors: list[str] = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto(report.resolve().as_uri(), wait_until="load")
        images = page.eval_on_selector_all("img", "nodes => nodes.map(n => [n.alt, n.naturalWidth, n.naturalHeight])")
        rows = page.eval_on_selector_all("table tr", "nodes => nodes.map(n => n.innerText)")
        text = page.inner_text("body")
        polylines = page.eval_on_selector_all("svg polyline", "nodes => nodes.map(n => n.getTotalLength())")
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    outside = [url for url in requested if not url.startswith(("file:", "data:"))]
    if outside:
        problems.append(f"the page requested {outside[:3]}: a report must open with nothing but itself")
    if not images or any(width == 0 or height == 0 for _, width, height in images):
        problems.append(f"images that did not decode: {[alt for alt, w, h in images if not w or not h] or 'no images at all'}")
    if not any("patch SWD" in row for row in rows) or not any("copy share" in row for row in rows):
        problems.append(f"the scores table is missing or incomplete: {rows}")
    if "memorisation" not in text:
        problems.append("the sentence on how to read the scores is missing")
    if "Training losses" in text and not (polylines and all(length > 0 for length in polylines)):
        problems.append("the loss charts drew no line")
    problems.extend(f"console error: {error}" for error in errors)
    print(f"{report}: {len(images)} images decoded, {len(rows)} score rows, {len(polylines)} loss charts, {len(requested)} requests; screenshot {screenshot}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--screenshot", type=Path, default=None, help="PNG to write [default: beside the report]")
    args = parser.parse_args()
    if not args.report.is_file():
        print(f"error: {args.report}: no such file", file=sys.stderr)
        return 2
    if not Path(CHROMIUM).exists():
        print(f"error: {CHROMIUM} is missing: apt-get install chromium", file=sys.stderr)
        return 2
    problems = check(args.report, args.screenshot or args.report.with_suffix(".png"))
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
