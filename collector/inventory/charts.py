"""Inline SVG charts for the inventory report, written by hand: no script, no external resource, every text escaped."""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

# Listed countries in warm colours, the rest in cool ones; readable in greyscale print as well.
LISTED_COLOURS = ["#b2182b", "#ef8a62", "#d6604d", "#f4a582"]
OTHER_COLOURS = ["#2166ac", "#4393c3", "#92c5de", "#5e3c99", "#1b7837", "#7fbc41"]
UNKNOWN_COLOUR = "#d9d9d9"
FONT = "font-family:Helvetica,Arial,sans-serif;font-size:12px"


def _text(x: float, y: float, s: str, anchor: str = "start", weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-weight="{weight}" '
            f'style="{FONT}">{escape(s)}</text>')


def country_colours(countries: Sequence[str | None], listed: Sequence[str]) -> dict[str | None, str]:
    """A stable colour per country: listed countries warm, others cool, unknown grey."""
    out: dict[str | None, str] = {None: UNKNOWN_COLOUR}
    warm = cool = 0
    for c in countries:
        if c is None or c in out:
            continue
        if c in listed:
            out[c] = LISTED_COLOURS[warm % len(LISTED_COLOURS)]
            warm += 1
        else:
            out[c] = OTHER_COLOURS[cool % len(OTHER_COLOURS)]
            cool += 1
    return out


def stacked_bars(
    rows: Sequence[tuple[str, Sequence[tuple[str | None, int]]]], listed: Sequence[str], title: str
) -> Markup:
    """One horizontal bar per row label, split into segments per country (None = vendor unknown)."""
    if not rows:
        return Markup("")
    label_w, bar_w, row_h, top = 170, 460, 26, 28
    countries: list[str | None] = []
    for _label, segs in rows:
        countries += [c for c, _n in segs if c not in countries]
    colours = country_colours(countries, listed)
    biggest = max((sum(n for _c, n in segs) for _l, segs in rows), default=1) or 1
    legend_y = top + len(rows) * row_h + 16
    legend_rows = (len(countries) + 5) // 6
    height = legend_y + legend_rows * 18 + 8
    width = label_w + bar_w + 70
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}"><title>{escape(title)}</title>',
             _text(0, 16, title, weight="bold")]
    for n_row, (label, segs) in enumerate(rows):
        y = top + n_row * row_h
        parts.append(_text(label_w - 8, y + 15, label[:28], anchor="end"))
        x = float(label_w)
        total = 0
        for country, n in segs:
            w = bar_w * n / biggest
            tip = f"{label}: {country or 'unknown vendor'} {n}"
            parts.append(f'<rect x="{x:.1f}" y="{y + 3}" width="{max(w, 0.5):.1f}" height="{row_h - 8}" '
                         f'fill="{colours[country]}"><title>{escape(tip)}</title></rect>')
            x += w
            total += n
        parts.append(_text(x + 6, y + 15, str(total)))
    for k, country in enumerate(countries):
        lx, ly = label_w + (k % 6) * 76, legend_y + (k // 6) * 18
        name = country or "unknown"
        mark = " *" if country in listed else ""
        parts.append(f'<rect x="{lx}" y="{ly - 10}" width="12" height="12" fill="{colours[country]}"/>')
        parts.append(_text(lx + 16, ly, name + mark))
    parts.append("</svg>")
    return Markup("".join(parts))


def bars(rows: Sequence[tuple[str, int]], title: str, colour: str = "#b2182b") -> Markup:
    """A simple horizontal bar chart, largest first as given."""
    if not rows:
        return Markup("")
    label_w, bar_w, row_h, top = 200, 400, 22, 28
    biggest = max(n for _l, n in rows) or 1
    height = top + len(rows) * row_h + 6
    width = label_w + bar_w + 60
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}"><title>{escape(title)}</title>',
             _text(0, 16, title, weight="bold")]
    for k, (label, n) in enumerate(rows):
        y = top + k * row_h
        w = bar_w * n / biggest
        parts.append(_text(label_w - 8, y + 13, label[:32], anchor="end"))
        parts.append(f'<rect x="{label_w}" y="{y + 2}" width="{max(w, 0.5):.1f}" height="{row_h - 6}" '
                     f'fill="{colour}"/>')
        parts.append(_text(label_w + w + 6, y + 13, str(n)))
    parts.append("</svg>")
    return Markup("".join(parts))


def paired_bars(rows: Sequence[tuple[str, int, int]], title: str, labels: tuple[str, str]) -> Markup:
    """Previous and current value side by side per row (the trend chart)."""
    if not rows:
        return Markup("")
    label_w, bar_w, row_h, top = 170, 420, 30, 46
    biggest = max(max(a, b) for _l, a, b in rows) or 1
    height = top + len(rows) * row_h + 6
    width = label_w + bar_w + 60
    prev_c, cur_c = "#92c5de", "#b2182b"
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}"><title>{escape(title)}</title>',
             _text(0, 16, title, weight="bold"),
             f'<rect x="{label_w}" y="24" width="12" height="12" fill="{prev_c}"/>',
             _text(label_w + 16, 34, labels[0]),
             f'<rect x="{label_w + 150}" y="24" width="12" height="12" fill="{cur_c}"/>',
             _text(label_w + 166, 34, labels[1])]
    for k, (label, before, now) in enumerate(rows):
        y = top + k * row_h
        parts.append(_text(label_w - 8, y + 16, label[:28], anchor="end"))
        for j, (n, c) in enumerate(((before, prev_c), (now, cur_c))):
            w = bar_w * n / biggest
            yy = y + 2 + j * 12
            parts.append(f'<rect x="{label_w}" y="{yy}" width="{max(w, 0.5):.1f}" height="11" fill="{c}"/>')
            parts.append(_text(label_w + w + 5, yy + 10, str(n)))
    parts.append("</svg>")
    return Markup("".join(parts))
