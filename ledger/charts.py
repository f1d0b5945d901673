"""Small SVG charts drawn on the server: no script, nothing to load."""

from __future__ import annotations

from markupsafe import Markup, escape


def bar_chart(bars: list[tuple[str, int]], *, width: int = 480, height: int = 140, title: str = "") -> Markup:
    """A bar chart of whole numbers with a label under each bar, as inline SVG."""
    top, bottom, left = 16, 22, 6
    peak = max((value for _, value in bars), default=0) or 1
    slot = (width - left) / max(len(bars), 1)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for index, (label, value) in enumerate(bars):
        bar_height = round((height - top - bottom) * value / peak, 1)
        x = round(left + index * slot + slot * 0.15, 1)
        y = round(height - bottom - bar_height, 1)
        parts.append(f'<rect x="{x}" y="{y}" width="{round(slot * 0.7, 1)}" height="{bar_height}" '
                     f'fill="#2f6db3"><title>{escape(label)}: {value}</title></rect>')
        middle = round(x + slot * 0.35, 1)
        parts.append(f'<text x="{middle}" y="{y - 3}" font-size="9" text-anchor="middle" '
                     f'fill="#1d2330">{value}</text>')
        parts.append(f'<text x="{middle}" y="{height - 7}" font-size="8.5" text-anchor="middle" '
                     f'fill="#555">{escape(label)}</text>')
    parts.append(f'<line x1="{left}" y1="{height - bottom}" x2="{width}" y2="{height - bottom}" '
                 'stroke="#99a" stroke-width="0.8"/></svg>')
    return Markup("".join(parts))
