"""A flow drawn as an SVG sequence diagram: one lifeline per node, one arrow (or note)
per message, numbered like the step list beside it, which is its text alternative.

Written by hand, not by a charting library: the explorer serves every byte itself (no
CDN), and the diagram is simple enough that a few dozen lines draw it.
"""

from __future__ import annotations

from html import escape

from network.explorer.flow import Flow, Message

COLUMN, ROW, TOP, LEFT = 190, 46, 56, 100
CHAR_WIDTH = 7  # px per character of the 12 px labels, enough to keep a note's text inside


def sequence_svg(flow: Flow, title: str) -> str:
    """The diagram; ``title`` and a one-line summary are its accessible name and
    description (the numbered list on the page gives every step in words)."""
    notes = [CHAR_WIDTH * (len(m.label) + 4) + 20 for m in flow.messages if m.source == m.target]
    width = LEFT + COLUMN * max(len(flow.participants) - 1, 1) + max([LEFT, *notes])
    height = TOP + ROW * (len(flow.messages) + 1)
    x = {name: LEFT + COLUMN * n for n, name in enumerate(flow.participants)}
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="sequence" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-labelledby="seq-title seq-desc">',
        f'<title id="seq-title">{escape(title)}</title>',
        f'<desc id="seq-desc">{escape(_summary(flow))}</desc>',
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z"/></marker>'
        "</defs>",
    ]
    for name, left in x.items():
        parts.append(
            f'<g class="participant"><rect x="{left - 80}" y="8" width="160" height="30" rx="4"/>'
            f'<text x="{left}" y="28" text-anchor="middle">{escape(name)}</text>'
            f'<line class="lifeline" x1="{left}" y1="38" x2="{left}" y2="{height - 8}"/></g>'
        )
    for number, message in enumerate(flow.messages, 1):
        parts.append(_arrow(number, message, x, TOP + ROW * number))
    parts.append("</svg>")
    return "".join(parts)


def _arrow(number: int, message: Message, x: dict[str, int], y: int) -> str:
    css = "message failed" if message.failed else "message"
    label = escape(f"{number}. {message.label}")
    if message.source == message.target:
        left = x[message.source]
        width = max(176, CHAR_WIDTH * len(f"{number}. {message.label}") + 14)
        return (
            f'<g class="{css} note"><rect x="{left + 6}" y="{y - 18}" width="{width}" '
            f'height="24" rx="3"/><text x="{left + 12}" y="{y - 2}">{label}</text></g>'
        )
    start, end = x[message.source], x[message.target]
    middle = (start + end) / 2
    return (
        f'<g class="{css}"><line x1="{start}" y1="{y}" x2="{end}" y2="{y}" '
        f'marker-end="url(#arrow)"/><text x="{middle}" y="{y - 6}" text-anchor="middle">'
        f"{label}</text></g>"
    )


def _summary(flow: Flow) -> str:
    failed = [m.label for m in flow.messages if m.failed]
    path = " → ".join(flow.participants)
    outcome = f"; failed at: {', '.join(failed)}" if failed else ""
    return f"{len(flow.messages)} steps across {path}{outcome}"
