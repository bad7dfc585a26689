"""The CLI's command groups, one module each.

Every module in this package that defines ``COMMAND`` (a click command or group), or
``COMMANDS`` (several top-level commands), is attached to ``consortium`` by
``network.cli``, so adding a command group means adding
one file here and touching nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil

import click


def discover() -> list[click.Command]:
    commands = []
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        command = getattr(module, "COMMAND", None)
        if isinstance(command, click.Command):
            commands.append(command)
        commands.extend(getattr(module, "COMMANDS", ()))
    return commands
