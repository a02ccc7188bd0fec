"""Charts as inline SVG drawn on the server (the pages run no script for them): scaled points."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

WIDTH, HEIGHT = 600, 120


@dataclass(frozen=True)
class Line:
    points: str  # "x,y x,y ..." for an SVG polyline
    top: float  # the value at the top edge
    last: float | None


def line(values: Sequence[tuple[float, float]], start: float, end: float, top: float | None = None) -> Line:
    """(x, y) values as polyline points over [start, end] on x, 0..top on y (top: the largest y)."""
    if not values:
        return Line("", top or 0, None)
    ceiling = top if top else max(y for _, y in values) or 1.0
    span = (end - start) or 1.0
    pts = " ".join(
        f"{(x - start) / span * WIDTH:.1f},{HEIGHT - min(y / ceiling, 1.0) * HEIGHT:.1f}" for x, y in values
    )
    return Line(pts, ceiling, values[-1][1])


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    x: float
    height: float


def bars(values: Sequence[tuple[str, float]]) -> list[Bar]:
    """Labelled values as bars across the chart's width, scaled to the largest."""
    if not values:
        return []
    ceiling = max(v for _, v in values) or 1.0
    slot = WIDTH / len(values)
    return [Bar(label, v, i * slot, v / ceiling * (HEIGHT - 20)) for i, (label, v) in enumerate(values)]
