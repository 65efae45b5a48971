"""Charts for the reports as inline SVG: nothing to download, readable in an email client and printable.

Colours follow NHS "Making Data Count": grey for common-cause points, orange for special cause that is a
concern, blue for special cause that is an improvement; its variation and assurance icons are drawn as
lettered circles that say themselves in words; grades run from red (worst) to blue (best).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

from markupsafe import Markup

from qaloop.reporting.spc import PChart, PPoint

GREY, ORANGE, BLUE, INK = "#7b7d7d", "#ed8b00", "#005eb8", "#231f20"
GRADE_COLOURS = ("#d5281b", "#ffb81c", "#78be20", "#005eb8", "#330072")


def grade_colours(levels: int) -> list[str]:
    """A colour per grade, worst first: red for the worst, blue for the best."""
    if levels <= len(GRADE_COLOURS) - 1:
        return [*GRADE_COLOURS[: levels - 1], GRADE_COLOURS[3]]
    return [GRADE_COLOURS[i % len(GRADE_COLOURS)] for i in range(levels)]


def spc_chart_svg(chart: PChart, title: str, width: int = 640, height: int = 240) -> Markup:
    """An SPC chart (a p-chart of shares or an XmR chart of figures): the points joined by a line, the centre
    line and each point's control limits."""
    left, right, top, bottom = 48, 12, 28, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    # The title stops short of the icons at the top right (about 7 pixels a character, bold at 12 points).
    room = int((width - left - 56) / 7.2)
    shown = title if len(title) <= room else title[: room - 1] + "…"
    parts = [_open(width, height, title), _text(left, 16, shown, weight="bold")]
    if not chart.points:
        parts.append(_text(left, top + 20, chart.says))
        return Markup("".join(parts) + "</svg>")
    lows = [p.lower for p in chart.points] + [p.share for p in chart.points]
    highs = [p.upper for p in chart.points] + [p.share for p in chart.points]
    if chart.individuals:
        pad = max((max(highs) - min(lows)) * 0.05, abs(max(highs)) * 0.01, 1e-6)
        floor, ceiling = min(lows) - pad, max(highs) + pad
        if min(p.share for p in chart.points) >= 0:
            floor = max(0.0, floor)
        ticks = _round_ticks(floor, ceiling)
    else:
        floor, ceiling = max(0.0, min(lows) - 0.05), min(1.0, max(highs) + 0.05)
        ticks = _ticks(floor, ceiling)

    def x(i: int) -> float:
        return left + (plot_w * (i + 0.5) / len(chart.points))

    def y(value: float) -> float:
        return top + plot_h * (ceiling - value) / max(ceiling - floor, 1e-9)

    for tick in ticks:
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#e8edee"/>')
        parts.append(_text(left - 6, y(tick) + 4, _tick_label(chart, tick), anchor="end", size=11))
    step = plot_w / len(chart.points)
    for bound in ("upper", "lower"):
        path = " ".join(
            f"M{x(i) - step / 2:.1f},{y(getattr(p, bound)):.1f} h{step:.1f}" for i, p in enumerate(chart.points)
        )
        parts.append(f'<path d="{path}" stroke="{GREY}" stroke-dasharray="4 3" fill="none"/>')
    for index, period in enumerate(chart.periods):
        # Each period's centre line spans its own points: a recalculation shows as a step.
        spans = [i for i, point in enumerate(chart.points) if point.period == index]
        if not spans:
            continue
        start, end = x(spans[0]) - step / 2, x(spans[-1]) + step / 2
        parts.append(
            f'<line x1="{start:.1f}" x2="{end:.1f}" y1="{y(period.centre):.1f}" y2="{y(period.centre):.1f}" '
            f'stroke="{INK}" stroke-width="1"/>'
        )
        if index > 0:
            parts.append(
                f'<line x1="{start:.1f}" x2="{start:.1f}" y1="{top}" y2="{top + plot_h}" stroke="{INK}" '
                f'stroke-dasharray="2 2"><title>Limits recalculated from {escape(period.first)}: '
                f"{escape(period.reason)}</title></line>"
            )
            parts.append(_text(start + 3, top + 10, f"recalculated: {period.reason}", size=9))
    line = " ".join(f"{'M' if i == 0 else 'L'}{x(i):.1f},{y(p.share):.1f}" for i, p in enumerate(chart.points))
    parts.append(f'<path d="{line}" stroke="{GREY}" stroke-width="1.5" fill="none"/>')
    for i, point in enumerate(chart.points):
        colour = (BLUE if chart.better(point) else ORANGE) if point.special else GREY
        parts.append(
            f'<circle cx="{x(i):.1f}" cy="{y(point.share):.1f}" r="4" fill="{colour}">'
            f"<title>{escape(point.label)}: {escape(_point_said(chart, point))}</title></circle>"
        )
        every = max(1, math.ceil(54 / step))  # leave room between the cycle labels (about 50 pixels each)
        if (len(chart.points) - 1 - i) % every == 0:
            parts.append(_text(x(i), height - bottom + 16, point.label, anchor="middle", size=10))
    parts += _icons(chart, width - right, 14)
    parts.append(_text(left, height - 6, _footnote(chart, short=width < 480), size=10))
    return Markup("".join(parts) + "</svg>")


def _footnote(chart: PChart, short: bool = False) -> str:
    """The chart's key in words: the centre line, the limits, and whether they are fixed or provisional (in
    fewer words on a small chart)."""
    rules = chart.rules
    if chart.provisional:
        if short:
            return f"Provisional limits: fewer than {rules.min_points} points."
        return f"Limits from fewer than {rules.min_points} points are provisional (trial limits); no reading yet."
    fixed = (
        f"; fixed on the first {rules.baseline} {'months' if chart.individuals else 'cycles'}" if rules.baseline else ""
    )
    centre = chart.shown(chart.centre) if chart.individuals else f"{chart.centre:.1%}"
    if short:
        return f"Centre {centre}; dashed: 3σ limits{fixed}."
    limits = "3 sigma, from the mean moving range" if chart.individuals else "3 standard errors"
    return f"Centre line {centre}; dashed: control limits ({limits}){fixed}."


def _tick_label(chart: PChart, tick: float) -> str:
    if not chart.individuals:
        return f"{tick:.0%}"
    return f"{tick:,g}%" if chart.unit == "%" else f"{tick:,g}"


def _point_said(chart: PChart, point: PPoint) -> str:
    if chart.individuals:
        return chart.shown(point.share)
    return f"{point.hits} of {point.n} ({point.share:.0%})"


def _icons(chart: PChart, right: float, baseline: float) -> list[str]:
    """Making Data Count's variation and assurance icons, as lettered circles whose titles say them in words:
    H or L for special cause high or low (blue improvement, orange concern), a dash for common cause; P, F or
    ? for a target consistently met, consistently missed or hit and miss. None where there is no reading."""
    icons = []
    if chart.variation:
        latest = chart.points[-1]
        special = bool(latest.special)
        colour = (BLUE if chart.better(latest) else ORANGE) if special else GREY
        letter = ("H" if latest.direction > 0 else "L") if special else "–"
        icons.append((letter, colour, chart.variation))
    if chart.assured:
        letter, colour = {"meets": ("P", BLUE), "misses": ("F", ORANGE), "hit and miss": ("?", GREY)}[chart.assured]
        icons.append((letter, colour, f"Assurance: {chart.assurance}"))
    parts = []
    for index, (letter, colour, words) in enumerate(reversed(icons)):
        cx = right - 9 - index * 22
        parts.append(
            f'<g class="icon"><title>{escape(words)}</title><circle cx="{cx:.1f}" cy="{baseline - 4:.1f}" r="9" '
            f'fill="#ffffff" stroke="{colour}" stroke-width="2"/>'
            + _text(cx, baseline, letter, anchor="middle", size=11, weight="bold", fill=colour)
            + "</g>"
        )
    return parts


def grade_bars_svg(rows: Mapping[str, Sequence[int]], labels: Sequence[str], title: str, width: int = 640) -> Markup:
    """One 100 % bar per row (an area, an audit type) split by grade, worst first, with a legend."""
    colours = grade_colours(len(labels))
    label_w, bar_h, gap, top = 240, 18, 8, 44
    height = top + len(rows) * (bar_h + gap) + 8
    parts = [_open(width, height, title), _text(0, 16, title, weight="bold")]
    legend_x = 0.0
    for label, colour in zip(labels, colours, strict=True):
        parts.append(f'<rect x="{legend_x:.0f}" y="24" width="10" height="10" fill="{colour}"/>')
        parts.append(_text(legend_x + 14, 33, label, size=11))
        legend_x += 24 + 6.5 * len(label)
    for row, (name, counts) in enumerate(rows.items()):
        total = sum(counts)
        y = top + row * (bar_h + gap)
        shown = name if len(name) <= 30 else name[:29] + "…"
        parts.append(_text(label_w - 8, y + 13, f"{shown} ({total})", anchor="end", size=12))
        start = float(label_w)
        for label, count, colour in zip(labels, counts, colours, strict=True):
            if total == 0 or count == 0:
                continue
            share = count / total
            span = (width - label_w) * share
            parts.append(
                f'<rect x="{start:.1f}" y="{y}" width="{span:.1f}" height="{bar_h}" fill="{colour}">'
                f"<title>{escape(name)}: {escape(label)} {count} ({share:.0%})</title></rect>"
            )
            if span > 30:
                text_colour = "#ffffff" if colour in (GRADE_COLOURS[0], GRADE_COLOURS[3], GRADE_COLOURS[4]) else INK
                parts.append(
                    _text(start + span / 2, y + 13, f"{share:.0%}", anchor="middle", size=11, fill=text_colour)
                )
            start += span
    return Markup("".join(parts) + "</svg>")


def funnel_svg(
    points: Sequence[tuple[float, float, bool, str]],
    limit: Sequence[tuple[float, float]],
    centre: float,
    title: str,
    x_label: str,
    y_label: str,
    width: int = 640,
    height: int = 300,
) -> Markup:
    """A funnel plot: each unit's rate (``points``: size, rate, beyond the limit, label) against its size, the
    market's rate as the centre line and the upper limit (``limit``: size, rate) narrowing as size grows; units
    beyond it in orange."""
    left, right, top, bottom = 52, 12, 28, 44
    plot_w, plot_h = width - left - right, height - top - bottom
    parts = [_open(width, height, title), _text(left, 16, title, weight="bold")]
    if not points:
        parts.append(_text(left, top + 20, "No services of this kind."))
        return Markup("".join(parts) + "</svg>")
    widest = max(size for size, *_ in points) * 1.05 or 1.0
    shown_limit = [(size, rate) for size, rate in limit if size <= widest]
    ceiling = max(
        [rate for _, rate, *_ in points] + [rate for size, rate in shown_limit if size >= widest / 10] + [centre]
    )
    ceiling = ceiling * 1.1 or 1.0

    def x(size: float) -> float:
        return left + plot_w * size / widest

    def y(rate: float) -> float:
        return top + plot_h * (1 - min(rate, ceiling) / ceiling)

    for tick in (ceiling * share / 4 for share in range(5)):
        parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(tick):.1f}" y2="{y(tick):.1f}" stroke="#e8edee"/>')
        parts.append(_text(left - 6, y(tick) + 4, f"{tick:.1f}", anchor="end", size=11))
    for tick in (widest * share / 4 for share in range(5)):
        parts.append(_text(x(tick), top + plot_h + 14, f"{tick:.0f}", anchor="middle", size=10))
    if shown_limit:
        path = " ".join(
            f"{'M' if i == 0 else 'L'}{x(size):.1f},{y(rate):.1f}" for i, (size, rate) in enumerate(shown_limit)
        )
        parts.append(f'<path d="{path}" stroke="{GREY}" stroke-dasharray="4 3" fill="none"/>')
    parts.append(f'<line x1="{left}" x2="{width - right}" y1="{y(centre):.1f}" y2="{y(centre):.1f}" stroke="{INK}"/>')
    for size, rate, beyond, label in points:
        parts.append(
            f'<circle cx="{x(size):.1f}" cy="{y(rate):.1f}" r="4" fill="{ORANGE if beyond else GREY}">'
            f"<title>{escape(label)}: {rate:.1f} at {size:.0f}</title></circle>"
        )
    parts.append(_text(left + plot_w / 2, height - 14, x_label, anchor="middle", size=11))
    parts.append(_text(left, height - 2, y_label, size=10))
    return Markup("".join(parts) + "</svg>")


def _open(width: int, height: int, title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{escape(title)}" font-family="Arial, Helvetica, sans-serif">'
    )


def _text(
    x: float, y: float, words: str, anchor: str = "start", size: int = 12, weight: str = "normal", fill: str = INK
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" font-weight="{weight}" '
        f'fill="{fill}">{escape(words)}</text>'
    )


def _round_ticks(floor: float, ceiling: float) -> list[float]:
    """About five ticks at round steps (1, 2 or 5 times a power of ten) between ``floor`` and ``ceiling``."""
    rough = (ceiling - floor) / 5
    power = 10 ** math.floor(math.log10(rough))
    step = next(power * m for m in (1, 2, 5, 10) if power * m >= rough)
    first = math.ceil(floor / step) * step
    return [round(first + i * step, 10) for i in range(int((ceiling - first) / step + 1e-9) + 1)]


def _ticks(floor: float, ceiling: float) -> list[float]:
    step = 0.1 if ceiling - floor > 0.3 else 0.05
    first = round(floor / step + 0.4999) * step
    return [round(first + i * step, 4) for i in range(int((ceiling - first) / step) + 1)]
