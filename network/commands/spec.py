"""``consortium spec validate FILE``: check a network spec without starting anything."""

from __future__ import annotations

from pathlib import Path

import click

from network.output import OUTPUT_OPTION, emit_json, emit_table, fail


@click.group("spec")
def COMMAND() -> None:
    """Network specs (YAML): what `consortium up` starts."""


@COMMAND.command("validate")
@click.argument("file", type=click.Path(path_type=Path))
@OUTPUT_OPTION
def validate(file: Path, output: str) -> None:
    """Check FILE: every problem is named by file, line and field; nothing is started."""
    from network.spec import load_spec, ports_in_use

    spec = load_spec(file)
    busy = ports_in_use(spec)
    if busy:
        # every busy port at once: a user editing the spec fixes them in one pass
        fail(
            "\nerror: ".join(
                f"{file}:{line}: {what}: port {host}:{port} is already in use"
                for what, host, port, line in busy
            )
        )
    rows = [(what, f"{host}:{port}") for what, host, port, _ in spec.ports()]
    if output == "json":
        emit_json({"valid": True, "network": spec.name, "listens": dict(rows)})
    else:
        emit_table(["node", "listens on"], rows, title=f"{file}: network {spec.name} is valid")
