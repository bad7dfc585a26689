"""``consortium channel``: make channel config blocks (the job of ``configtxgen``)."""

from __future__ import annotations

from pathlib import Path

import click

from network.output import OUTPUT_OPTION, emit_record, fail


@click.group("channel")
def COMMAND() -> None:
    """Channel configuration: genesis blocks from configtx-style profiles."""


@COMMAND.command("genesis")
@click.argument("profile", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--channel", "channel_id", required=True, help="Channel ID (lowercase).")
@click.option("--profile-name", help="Which profile of a configtx.yaml (default: the only one).")
@click.option(
    "-o", "--output-block", required=True, type=click.Path(path_type=Path), help="Block file."
)
@OUTPUT_OPTION
def genesis(
    profile: Path, channel_id: str, profile_name: str | None, output_block: Path, output: str
) -> None:
    """Write the genesis (config) block of CHANNEL from PROFILE."""
    from ordering.configtx import genesis_block, load_profile
    from ordering.errors import ConfigError
    from proto.blockhash import block_header_hash

    try:
        block = genesis_block(load_profile(profile, profile_name), channel_id)
    except ConfigError as exc:
        fail(str(exc))
    output_block.write_bytes(block.SerializeToString())
    emit_record(
        {
            "channel": channel_id,
            "block": str(output_block),
            "bytes": output_block.stat().st_size,
            "headerHash": block_header_hash(block.header).hex(),
        },
        output,
    )
