"""Small line charts as inline SVG, drawn on the server (no JavaScript, no image files):
the report's usage trends. Pure; the SVG is built from numbers only, so nothing from the
LMS reaches the markup but the title, which is escaped."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 560, 150, 48, 22, 8
MAX_POINTS = 280  # one per two pixels; more are averaged into buckets


def _buckets(points: Sequence[tuple[float, float]], since: float, until: float
             ) -> list[tuple[float, float]]:
    if len(points) <= MAX_POINTS:
        return list(points)
    size = (until - since) / MAX_POINTS
    sums: dict[int, list[float]] = {}
    for at, value in points:
        sums.setdefault(min(MAX_POINTS - 1, int((at - since) / size)), []).append(value)
    return [(since + (i + 0.5) * size, sum(v) / len(v)) for i, v in sorted(sums.items())]


def _label(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 10 or value == int(value) else f"{value:.2g}"


def line_chart(points: Sequence[tuple[float, float]], since: float, until: float,
               title: str, start_label: str = "", end_label: str = "") -> str:
    """An SVG of ``points`` (time, value) over [since, until], y from 0 to the maximum;
    the x axis is labelled with ``start_label`` and ``end_label`` (e.g. the dates)."""
    data = _buckets(points, since, until)
    top = max((v for _, v in data), default=0.0) or 1.0
    span = (until - since) or 1.0
    plot_w, plot_h = WIDTH - PAD_LEFT - 4, HEIGHT - PAD_BOTTOM - PAD_TOP

    def xy(at: float, value: float) -> str:
        x = PAD_LEFT + (at - since) / span * plot_w
        y = PAD_TOP + plot_h - max(0.0, value) / top * plot_h
        return f"{x:.1f},{y:.1f}"

    line = " ".join(xy(at, value) for at, value in data)
    base = PAD_TOP + plot_h
    name = escape(title)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{name}">'
        f'<title>{name}</title>'
        f'<line x1="{PAD_LEFT}" y1="{base}" x2="{WIDTH - 4}" y2="{base}" stroke="#666"/>'
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" y2="{base}" stroke="#666"/>'
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + 8}" text-anchor="end" font-size="11">'
        f'{_label(top)}</text>'
        f'<text x="{PAD_LEFT - 4}" y="{base}" text-anchor="end" font-size="11">0</text>'
        f'<text x="{PAD_LEFT}" y="{HEIGHT - 4}" font-size="11">{escape(start_label)}</text>'
        f'<text x="{WIDTH - 4}" y="{HEIGHT - 4}" text-anchor="end" font-size="11">'
        f'{escape(end_label)}</text>'
        f'<polyline fill="none" stroke="#1f5fa8" stroke-width="2" points="{line}"/>'
        '</svg>')
