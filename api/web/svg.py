"""Pictures as inline SVG, drawn here in Python (no JavaScript, no CDN): a flow of boxes joined by arrows
(:func:`flow`, a unit's trace) and groups of stacked bars on a zero line (:func:`bars`, a city's years).

Every picture is an ``<svg role="img">`` with a ``<title>`` and a ``<desc>``, each shape with a
``<title>`` of its own (the text a screen reader or a pointer shows); the page beside it holds
the same facts as a table. Text is escaped here; the result is :class:`markupsafe.Markup`, which
templates insert as is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from api.web.render import tonnes

# --- a flow of boxes ----------------------------------------------------------------------------

BOX_W, BOX_H, GAP_X, GAP_Y, MARGIN = 220, 64, 24, 40, 8
LINE_H = 17
MAX_CHARS = 30  # of one line in a box: longer text is cut, and whole in the box's <title>
BOLD = ' style="font-weight: 700"'  # not font-weight="700": site.css's `svg text { font: … }` would override it


@dataclass(frozen=True)
class Box:
    """One box of a flow: its ``lines`` (the first in bold), a link, and the full text for its ``<title>``."""

    key: Hashable
    lines: tuple[str, ...]
    label: str
    href: str | None = None
    kind: str = ""
    """A class name for its colour (``flow-<kind>`` in site.css)."""


def flow(boxes: Sequence[Box], edges: Sequence[tuple[Hashable, Hashable]], title: str, desc: str) -> Markup:
    """``boxes`` in rows top to bottom, each one row below the lowest box an edge comes from; arrows for ``edges``.

    ``boxes`` must list every box after the boxes its edges come from (log order does); an edge to
    or from a key not among ``boxes`` is left out.
    """
    row: dict[Hashable, int] = {}
    parents: dict[Hashable, list[Hashable]] = {box.key: [] for box in boxes}
    for start, end in edges:
        if start in parents and end in parents:
            parents[end].append(start)
    rows: list[list[Box]] = []
    column: dict[Hashable, float] = {}
    for box in boxes:
        row[box.key] = 1 + max((row[p] for p in parents[box.key] if p in row), default=-1)
        if row[box.key] == len(rows):
            rows.append([])
        rows[row[box.key]].append(box)
    for boxes_of_row in rows:  # under its parents where it can be: order a row by its parents' columns
        boxes_of_row.sort(key=lambda b: _mean([column[p] for p in parents[b.key] if p in column]))
        for n, box in enumerate(boxes_of_row):
            column[box.key] = n
    width = MARGIN * 2 + max((len(r) for r in rows), default=1) * (BOX_W + GAP_X) - GAP_X
    height = MARGIN * 2 + len(rows) * (BOX_H + GAP_Y) - GAP_Y
    at = {key: (MARGIN + column[key] * (BOX_W + GAP_X), MARGIN + row[key] * (BOX_H + GAP_Y)) for key in row}
    arrows = [
        _line(at[p][0] + BOX_W / 2, at[p][1] + BOX_H, at[box.key][0] + BOX_W / 2, at[box.key][1] - 2)
        for box in boxes
        for p in parents[box.key]
    ]
    drawn = [_box(box, *at[box.key]) for box in boxes]
    marker = (
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="currentColor"/></marker></defs>'
    )
    return _svg("flow", width, height, [marker, *arrows, *drawn], title=title, desc=desc)


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else math.inf


def _line(x1: float, y1: float, x2: float, y2: float) -> str:
    return (
        f'<line class="arrow" x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" stroke="currentColor" '
        'stroke-width="1.5" marker-end="url(#arrow)"/>'
    )


def _box(box: Box, x: float, y: float) -> str:
    text = "".join(
        f'<text x="{x + 10:g}" y="{y + 20 + n * LINE_H:g}"{BOLD if n == 0 else ""}>{escape(_cut(line))}</text>'
        for n, line in enumerate(box.lines[:3])
    )
    shape = (
        f'<rect x="{x:g}" y="{y:g}" width="{BOX_W}" height="{BOX_H}" rx="6" class="flow-box flow-{escape(box.kind)}"/>'
    )
    inner = f"<title>{escape(box.label)}</title>{shape}{text}"
    if box.href is None:
        return f"<g>{inner}</g>"
    # Inside role="img" a link is hidden from screen readers; the table under the picture holds
    # the same links, so these stay out of the keyboard's way too.
    return f'<a href="{escape(box.href)}" tabindex="-1" aria-hidden="true">{inner}</a>'


def _cut(line: str) -> str:
    return line if len(line) <= MAX_CHARS else line[: MAX_CHARS - 1] + "…"


# --- stacked bars ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    """A quantity drawn in the bars, and its colour (a fill with at least 3:1 contrast on white)."""

    key: str
    name: str
    colour: str


@dataclass(frozen=True)
class Bar:
    """One bar of a group: its name and the series stacked in it, bottom first, as (series key, value)."""

    name: str
    stack: tuple[tuple[str, int], ...]
    short: str = ""
    """Its label under the bar (a bar is narrow: a symbol or a short word)."""


@dataclass(frozen=True)
class Group:
    """The bars drawn side by side over one label on the x axis (a year)."""

    label: str
    bars: tuple[Bar, ...]


PLOT_H, BAR_W, BAR_GAP, GROUP_GAP, AXIS_W, LEGEND_ROW, LEGEND_W = 240, 26, 4, 28, 84, 20, 340
TOP, BOTTOM = 12, 52


def bars(groups: Sequence[Group], series: Sequence[Series], title: str, desc: str, unit: str = "t") -> Markup:
    """``groups`` of stacked bars on one value axis (zero line, ticks at 1, 2 or 5 × 10ⁿ), a legend of ``series``.

    A stack's positive values rise from the zero line and its negative values fall from it. Each
    segment is a ``<rect>`` with ``data-series`` and ``data-value`` and a ``<title>`` naming both;
    each group is a ``<g class="group" data-label=…>``.
    """
    named = {s.key: s for s in series}
    highs = [sum(v for _, v in bar.stack if v > 0) for g in groups for bar in g.bars]
    lows = [sum(v for _, v in bar.stack if v < 0) for g in groups for bar in g.bars]
    step = _tick_step(max([*highs, *(-low for low in lows), 1]))
    top = step * math.ceil(max([*highs, 0]) / step) or step
    bottom = step * math.floor(min([*lows, 0]) / step)
    scale = PLOT_H / (top - bottom)

    def y(value: float) -> float:
        return TOP + (top - value) * scale

    group_w = len(groups[0].bars) * (BAR_W + BAR_GAP) - BAR_GAP if groups else 0
    plot_w = len(groups) * (group_w + GROUP_GAP) + GROUP_GAP
    width = max(AXIS_W + plot_w + MARGIN, LEGEND_W)
    legend_y = TOP + PLOT_H + BOTTOM
    height = legend_y + LEGEND_ROW * len(series)
    parts = [
        f'<line class="grid" x1="{AXIS_W}" x2="{AXIS_W + plot_w}" y1="{y(v):g}" y2="{y(v):g}" '
        f'stroke="{"#1b1f24" if v == 0 else "#d0d7de"}"/>'
        f'<text x="{AXIS_W - 6}" y="{y(v) + 4:g}" text-anchor="end">{escape(tonnes(v))}</text>'
        for v in range(bottom, top + 1, step)
    ]
    for n, group in enumerate(groups):
        left = AXIS_W + GROUP_GAP + n * (group_w + GROUP_GAP)
        drawn = [
            _bar(bar, left + i * (BAR_W + BAR_GAP), y, series=named, group=group.label, unit=unit)
            for i, bar in enumerate(group.bars)
        ]
        caption = (
            f'<text x="{left + group_w / 2:g}" y="{TOP + PLOT_H + 34}" text-anchor="middle"{BOLD}>'
            f"{escape(group.label)}</text>"
        )
        parts.append(f'<g class="group" data-label="{escape(group.label)}">{"".join(drawn)}{caption}</g>')
    parts += [_legend(s, n, legend_y) for n, s in enumerate(series)]
    return _svg("bars", width, height, parts, title=title, desc=desc)


def _bar(bar: Bar, x: float, y: Callable[[float], float], *, series: dict[str, Series], group: str, unit: str) -> str:
    rises, falls = 0, 0
    drawn = []
    for key, value in bar.stack:
        if value == 0:
            continue
        start = rises if value > 0 else falls
        end = start + value
        if value > 0:
            rises = end
        else:
            falls = end
        top, bottom = y(max(start, end)), y(min(start, end))
        what = f"{group} · {bar.name} · {series[key].name}: {tonnes(value)} {unit}"
        drawn.append(
            f'<rect x="{x:g}" y="{top:g}" width="{BAR_W}" height="{max(bottom - top, 0.5):g}" '
            f'fill="{series[key].colour}" stroke="#ffffff" stroke-width="0.5" data-bar="{escape(bar.name)}" '
            f'data-series="{escape(key)}" data-value="{value}"><title>{escape(what)}</title></rect>'
        )
    label = f'<text x="{x + BAR_W / 2:g}" y="{TOP + PLOT_H + 16}" text-anchor="middle">{escape(bar.short)}</text>'
    return "".join(drawn) + (label if bar.short else "")


def _legend(series: Series, n: int, y: float) -> str:
    row = y + n * LEGEND_ROW
    return (
        f'<g class="legend"><rect x="{MARGIN}" y="{row - 11:g}" width="12" height="12" fill="{series.colour}"/>'
        f'<text x="{MARGIN + 18}" y="{row:g}">{escape(series.name)}</text></g>'
    )


def _tick_step(extent: int) -> int:
    """The step of about four ticks over ``extent``: 1, 2 or 5 × 10ⁿ, at least 1."""
    raw = extent / 4
    power = 10 ** max(math.floor(math.log10(raw)), 0) if raw >= 1 else 1
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


# --- the picture ---------------------------------------------------------------------------------


def _svg(kind: str, width: float, height: float, parts: Sequence[str], *, title: str, desc: str) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" role="img" '
        f'aria-labelledby="{kind}-title" aria-describedby="{kind}-desc" width="{width:g}" height="{height:g}" '
        f'viewBox="0 0 {width:g} {height:g}"><title id="{kind}-title">{escape(title)}</title>'
        f'<desc id="{kind}-desc">{escape(desc)}</desc>{"".join(parts)}</svg>'
    )
