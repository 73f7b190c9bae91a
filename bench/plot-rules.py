#!/usr/bin/env python3
"""Draws the benchmark's lifecycle-rules table as an SVG: ids deleted a second (left axis),
and the rule's listing requests and verification's lookups a second (right axis), over
time, while a rule lists its namespaces beside a drain.

    target/release/examples/bench --rules-only | tee rules.md
    python3 bench/plot-rules.py < rules.md > bench/rules-listing.svg

Reads the table under "### Over time, beside the drain" (rows "| 0–10 | 480 | 0.10 | 4.80 |").
Standard library only.
"""
import re
import sys

W, H = 640, 280
LEFT, RIGHT, TOP, BOTTOM = 52, 52, 40, 56


def main():
    text = sys.stdin.read()
    heading = re.search(r"### Over time, beside the drain", text)
    if not heading:
        sys.exit("plot-rules.py: no '### Over time, beside the drain' table in the input")
    rows = []
    for m in re.finditer(r"^\| (\d+)–(\d+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$",
                         text[heading.end():], re.M):
        rows.append((int(m.group(1)), int(m.group(2)), float(m.group(3)),
                     float(m.group(4)), float(m.group(5))))
    if not rows:
        sys.exit("plot-rules.py: the table has no rows")
    end = rows[-1][1]
    ids_top, req_top = 550.0, 6.0

    def x(t):
        return LEFT + (W - LEFT - RIGHT) * t / end

    def y(v, top):
        return TOP + (H - TOP - BOTTOM) * (1 - v / top)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>']
    # Axes and grid.
    for v in range(0, 551, 100):
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(v, ids_top):.1f}" '
                   f'y2="{y(v, ids_top):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y(v, ids_top) + 4:.1f}" text-anchor="end">{v}</text>')
    for v in range(0, 7):
        out.append(f'<text x="{W - RIGHT + 6}" y="{y(v, req_top) + 4:.1f}">{v}</text>')
    step = max(10, (end // 8) // 10 * 10)
    for t in range(0, end + 1, step):
        out.append(f'<text x="{x(t):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{t}</text>')
    out.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - BOTTOM + 32}" '
               f'text-anchor="middle">seconds since the daemon started</text>')
    out.append(f'<line x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{H - BOTTOM}" stroke="#333"/>')
    out.append(f'<line x1="{W - RIGHT}" x2="{W - RIGHT}" y1="{TOP}" y2="{H - BOTTOM}" stroke="#333"/>')
    out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{H - BOTTOM}" y2="{H - BOTTOM}" stroke="#333"/>')
    # The ceiling of deletions, and the listing's share.
    out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(500, ids_top):.1f}" '
               f'y2="{y(500, ids_top):.1f}" stroke="#1f77b4" stroke-dasharray="4 3"/>')
    out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(1, req_top):.1f}" '
               f'y2="{y(1, req_top):.1f}" stroke="#d62728" stroke-dasharray="4 3"/>')

    def line(values, top, colour):
        points = " ".join(f"{x((a + b) / 2):.1f},{y(v, top):.1f}" for (a, b), v in values)
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2"/>')

    line([((a, b), d) for a, b, d, _, _ in rows], ids_top, "#1f77b4")
    line([((a, b), r) for a, b, _, r, _ in rows], req_top, "#d62728")
    line([((a, b), v) for a, b, _, _, v in rows], req_top, "#2ca02c")
    out.append(f'<text x="{LEFT}" y="{TOP - 24}" fill="#1f77b4">ids deleted a second '
               f'(left axis; dashed: 500, the ceiling)</text>')
    out.append(f'<text x="{LEFT}" y="{TOP - 10}"><tspan fill="#d62728">the rule\'s listing '
               f'requests a second (dashed: its share, 1)</tspan>, <tspan fill="#2ca02c">'
               f'verification\'s lookups a second</tspan> (right axis)</text>')
    out.append("</svg>")
    print("\n".join(out))


if __name__ == "__main__":
    main()
