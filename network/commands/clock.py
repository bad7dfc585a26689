"""``consortium clock advance DURATION``: move a local control plane's manual clock.

With ``control_plane: {clock: manual}`` in the spec, proposals expire only when this
command moves the clock, so "what happens when nobody votes for a day" can be rehearsed
on a running network in a second.
"""

from __future__ import annotations

import re

import click

from network.controlplane.cli_support import api_command
from network.controlplane.client import Client
from network.output import OUTPUT_OPTION, emit_json, fail

_PART = re.compile(r"(\d+(?:\.\d+)?)(d|h|m|s)")
_UNIT = {"d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration(text: str) -> float:
    """``90m``, ``25h``, ``1h30m``, ``7d`` → seconds; anything else is refused whole."""
    compact = text.strip().lower()
    parts = _PART.findall(compact)
    if not compact or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"{text!r} is not a duration such as 90m, 25h, 1h30m or 7d")
    return sum(float(number) * _UNIT[unit] for number, unit in parts)


@click.group("clock")
def COMMAND() -> None:
    """The control plane's clock (when the spec says ``control_plane: {clock: manual}``)."""


@COMMAND.command("advance")
@click.argument("duration")
@OUTPUT_OPTION
@api_command
def advance(client: Client, duration: str, output: str) -> None:
    """Move the clock DURATION ahead (90m, 25h, 7d …); proposals past their deadline
    expire at once, and how many did is printed."""
    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        fail(f"DURATION: {exc}")
    answer = client.call("POST", "/internal/clock", {"AdvanceSeconds": seconds})
    if output == "json":
        emit_json(answer)
        return
    expired = int(answer.get("Expired") or 0)
    click.echo(
        f"control plane clock now {answer['Now']}; "
        + (f"{expired} proposal(s) or invitation(s) expired" if expired else "nothing expired")
    )
