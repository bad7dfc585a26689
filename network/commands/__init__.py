"""The CLI's command groups, one module each; ``network.cli`` attaches every one listed."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
