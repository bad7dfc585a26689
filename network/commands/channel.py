"""``consortium channel``: make channel config blocks (the job of ``configtxgen``), and
add or remove a running channel's organizations (Fabric's config update, signed by the
channel's admins the way ``peer channel signconfigtx`` collects their signatures)."""

from __future__ import annotations

from pathlib import Path

import click

from network.commands.lifecycle import (
    HOME_OPTION,
    NETWORK_OPTION,
    open_supervisor,
    reconcile_lock,
    spec_path,
    split_spec,
)
from network.output import OUTPUT_OPTION, emit_json, emit_record, fail


@click.group("channel")
def COMMAND() -> None:
    """Channel configuration: genesis blocks, and which members a channel has."""


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
    from proto.blockhash import block_header_hash

    block = genesis_block(load_profile(profile, profile_name), channel_id)
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


def _change_membership(
    arguments: tuple[str, ...], home: Path, network: str | None, adding: bool
) -> None:
    spec_file, rest = split_spec(arguments)
    if len(rest) != 2:
        fail("name a CHANNEL and a MEMBER (and optionally the SPEC before them)")
    channel, member = rest
    supervisor = open_supervisor(spec_path(spec_file, home, network), home)
    change = supervisor.add_channel_member if adding else supervisor.remove_channel_member
    with reconcile_lock(supervisor):
        change(channel, member)
    click.echo(f"{member} {'is now in' if adding else 'has left'} channel {channel}")


@COMMAND.command("add-member")
@click.argument("arguments", metavar="[SPEC] CHANNEL MEMBER", nargs=-1, required=True)
@HOME_OPTION
@NETWORK_OPTION
def add_member(arguments: tuple[str, ...], home: Path, network: str | None) -> None:
    """Add MEMBER's organization to CHANNEL of the running network: a config update
    signed by as many of the channel's admins as its Admins policy needs; MEMBER's peers
    join and it approves the channel's chaincodes. A member voted into the network is in
    no channel until this runs."""
    _change_membership(arguments, home, network, adding=True)


@COMMAND.command("remove-member")
@click.argument("arguments", metavar="[SPEC] CHANNEL MEMBER", nargs=-1, required=True)
@HOME_OPTION
@NETWORK_OPTION
def remove_member(arguments: tuple[str, ...], home: Path, network: str | None) -> None:
    """Remove MEMBER's organization from CHANNEL of the running network (a config update
    signed by the channel's admins); its peers get no more of the channel's blocks."""
    _change_membership(arguments, home, network, adding=False)


@COMMAND.command("config")
@click.argument("arguments", metavar="[SPEC] CHANNEL", nargs=-1, required=True)
@HOME_OPTION
@NETWORK_OPTION
@OUTPUT_OPTION
def config(arguments: tuple[str, ...], home: Path, network: str | None, output: str) -> None:
    """Fetch CHANNEL's current configuration from the orderer and print it decoded (what
    `configtxlator proto_decode` shows): -o json for the whole tree, values and
    policies included; the table shows the settings people change."""
    from ca.configview import describe

    spec_file, rest = split_spec(arguments)
    if len(rest) != 1:
        fail("name one CHANNEL (and optionally the SPEC before it)")
    supervisor = open_supervisor(spec_path(spec_file, home, network), home, quiet=True)
    current = supervisor.channel_config(rest[0])
    tree = describe(current.config)
    if output == "json":
        emit_json({"channel": current.channel_id, **tree})
        return
    channel = tree["Channel"]["groups"]
    orderer, application = channel["Orderer"], channel.get("Application", {})
    emit_record(
        {
            "channel": current.channel_id,
            "sequence": tree["sequence"],
            "batch timeout": orderer["values"]["BatchTimeout"],
            "batch size": ", ".join(f"{k} {v}" for k, v in orderer["values"]["BatchSize"].items()),
            "orderer endpoints": ", ".join(
                address
                for org in orderer.get("groups", {}).values()
                for address in org.get("values", {}).get("Endpoints", [])
            ),
            "organizations": ", ".join(application.get("groups", {})),
            "policies": ", ".join(
                f"{name}: {rule}" for name, rule in application.get("policies", {}).items()
            ),
        },
        output,
        f"channel {current.channel_id}",
    )


@COMMAND.command("update")
@click.argument("arguments", metavar="[SPEC] CHANNEL", nargs=-1, required=True)
@click.option("--batch-timeout", help="BatchTimeout, e.g. 250ms or 2s.")
@click.option("--max-message-count", type=click.IntRange(1), help="BatchSize.MaxMessageCount.")
@click.option("--absolute-max-bytes", help="BatchSize.AbsoluteMaxBytes, e.g. 10 MB.")
@click.option("--preferred-max-bytes", help="BatchSize.PreferredMaxBytes, e.g. 2 MB.")
@HOME_OPTION
@NETWORK_OPTION
def update(
    arguments: tuple[str, ...],
    batch_timeout: str | None,
    max_message_count: int | None,
    absolute_max_bytes: str | None,
    preferred_max_bytes: str | None,
    home: Path,
    network: str | None,
) -> None:
    """Change a running CHANNEL's batch settings by a config update signed by the ordering
    organization's admin; settings not given stay as they are. (`up` with a changed
    spec does the same; the spec stays the network's source: the next `up` applies it.)"""
    from ordering.configtx import parse_size

    spec_file, rest = split_spec(arguments)
    if len(rest) != 1:
        fail("name one CHANNEL (and optionally the SPEC before it)")
    if not any((batch_timeout, max_message_count, absolute_max_bytes, preferred_max_bytes)):
        fail(
            "give at least one of --batch-timeout, --max-message-count, "
            "--absolute-max-bytes, --preferred-max-bytes"
        )
    absolute = (
        parse_size(absolute_max_bytes, "--absolute-max-bytes") if absolute_max_bytes else None
    )
    preferred = (
        parse_size(preferred_max_bytes, "--preferred-max-bytes") if preferred_max_bytes else None
    )
    supervisor = open_supervisor(spec_path(spec_file, home, network), home)
    with reconcile_lock(supervisor):
        changed = supervisor.update_channel_settings(
            rest[0], batch_timeout, max_message_count, absolute, preferred
        )
    click.echo(f"channel {rest[0]} " + ("updated" if changed else "already has those settings"))
