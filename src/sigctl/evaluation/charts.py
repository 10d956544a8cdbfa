"""Loss curves as inline SVG: a report that opens from disk needs no plotting library or file."""

from __future__ import annotations

import html
import math

WIDTH, HEIGHT, MARGIN_LEFT, MARGIN = 640, 120, 64, 14


def loss_charts_svg(loss_log: list[dict]) -> list[tuple[str, str]]:
    """(loss name, <svg> element) per loss in a losses.jsonl; x = logged step, dotted lines at new stages."""
    if not loss_log:
        return []
    names = [key for key in loss_log[0] if key not in ("stage", "iteration")]
    stage_starts = [index for index, entry in enumerate(loss_log) if index == 0 or entry.get("stage") != loss_log[index - 1].get("stage")]
    return [(name, _chart([entry.get(name) for entry in loss_log], stage_starts, name)) for name in names]


def _chart(values: list, stage_starts: list[int], name: str) -> str:
    points = [(index, float(value)) for index, value in enumerate(values) if isinstance(value, (int, float)) and math.isfinite(value)]
    label = html.escape(name)
    if not points:
        return f'<svg width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{label}: no finite values"></svg>'
    low, high = min(v for _, v in points), max(v for _, v in points)
    high = high if high > low else low + 1.0
    last = max(len(values) - 1, 1)

    def x(index: float) -> float:
        return MARGIN_LEFT + (WIDTH - MARGIN_LEFT - MARGIN) * index / last

    def y(value: float) -> float:
        return MARGIN + (HEIGHT - 2 * MARGIN) * (high - value) / (high - low)

    line = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in points)
    stages = "".join(
        f'<line x1="{x(s):.1f}" y1="{MARGIN}" x2="{x(s):.1f}" y2="{HEIGHT - MARGIN}" stroke="#bbb" stroke-dasharray="2,3"/>' for s in stage_starts[1:]
    )
    return (
        f'<svg width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{label} over training">'
        f'<rect x="{MARGIN_LEFT}" y="{MARGIN}" width="{WIDTH - MARGIN_LEFT - MARGIN}" height="{HEIGHT - 2 * MARGIN}" fill="#fafafa" stroke="#ddd"/>'
        f"{stages}"
        f'<polyline points="{line}" fill="none" stroke="#1f5fa8" stroke-width="1"/>'
        f'<text x="{MARGIN_LEFT - 6}" y="{MARGIN + 4}" text-anchor="end" font-size="10">{high:.3g}</text>'
        f'<text x="{MARGIN_LEFT - 6}" y="{HEIGHT - MARGIN}" text-anchor="end" font-size="10">{low:.3g}</text>'
        f'<text x="4" y="{HEIGHT / 2 + 4:.0f}" font-size="12" font-weight="bold">{label}</text>'
        "</svg>"
    )
