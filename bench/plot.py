#!/usr/bin/env python3
"""Draws the benchmark's shared-quota table as an SVG: requests a second answered 0000 over
time (a line), the 0429 answers (bars), and the quota the stand-in allowed (a dashed line).

    target/release/examples/bench | tee bench.md
    python3 bench/plot.py < bench.md > bench/shared-quota.svg

Reads the table under "## A shared quota" (rows "| 0–2 | 5.0 | 0 |"); takes the quota's
fall and rise from that heading. Standard library only.
"""
import re
import sys

W, H = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 24, 40


def main():
    text = sys.stdin.read()
    heading = re.search(r"## A shared quota.*?then 2 from (\d+) s, then 5 again from (\d+) s", text)
    if not heading:
        sys.exit("plot.py: no '## A shared quota' table in the input")
    fall, rise = int(heading.group(1)), int(heading.group(2))
    rows = []
    for m in re.finditer(r"^\| (\d+)–(\d+) \| ([\d.]+) \| (\d+) \|$", text[heading.end():], re.M):
        rows.append((int(m.group(1)), int(m.group(2)), float(m.group(3)), int(m.group(4))))
    if not rows:
        sys.exit("plot.py: the shared-quota table has no rows")
    end = rows[-1][1]
    top = 7.0

    def x(t):
        return LEFT + (W - LEFT - RIGHT) * t / end

    def y(v):
        return TOP + (H - TOP - BOTTOM) * (1 - v / top)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
           f'font-family="sans-serif" font-size="11">',
           f'<rect width="{W}" height="{H}" fill="white"/>']
    for v in range(0, 8):
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#eee"/>')
        out.append(f'<text x="{LEFT - 6}" y="{y(v) + 4:.1f}" text-anchor="end">{v}</text>')
    for t in range(0, end + 1, 10):
        out.append(f'<text x="{x(t):.1f}" y="{H - BOTTOM + 16}" text-anchor="middle">{t}</text>')
    out.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 6}" text-anchor="middle">seconds</text>')
    out.append(f'<text x="12" y="{TOP - 8}">requests/s</text>')
    # The quota the stand-in allowed.
    quota = [(0, 5), (fall, 5), (fall, 2), (rise, 2), (rise, 5), (end, 5)]
    points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in quota)
    out.append(f'<polyline points="{points}" fill="none" stroke="#999" stroke-dasharray="4 3"/>')
    # 0429 answers, as bars a request high each.
    for start, stop, _, too_many in rows:
        if too_many:
            out.append(f'<rect x="{x(start):.1f}" y="{y(too_many / 2):.1f}" '
                       f'width="{x(stop) - x(start) - 1:.1f}" height="{y(0) - y(too_many / 2):.1f}" '
                       f'fill="#e66" opacity="0.6"/>')
    points = " ".join(f"{x((a + b) / 2):.1f},{y(v):.1f}" for a, b, v, _ in rows)
    out.append(f'<polyline points="{points}" fill="none" stroke="#36c" stroke-width="2"/>')
    out.append(f'<text x="{W - RIGHT - 4}" y="{TOP + 4}" text-anchor="end" fill="#36c">answered 0000</text>')
    out.append(f'<text x="{W - RIGHT - 4}" y="{TOP + 18}" text-anchor="end" fill="#999">quota</text>')
    out.append(f'<text x="{W - RIGHT - 4}" y="{TOP + 32}" text-anchor="end" fill="#e66">0429 answers/s</text>')
    out.append("</svg>")
    print("\n".join(out))


if __name__ == "__main__":
    main()
