"""The MQTT events bridge (and a local Mosquitto) when the spec has ``events``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from ca.issuing import Issuer, ca_name, self_signed_ca
from ca.keystore import SoftwareCaKey
from network.errors import SupervisorError
from network.mqtt.access import BRIDGE_USER, BrokerFiles, acl, new_password, password_line
from network.processes import CONSORTIUM
from network.spec import Events
from network.supervisor.base import MQTT_TLS, MQTT_USERS, SupervisorBase
from network.supervisor.home import write_atomically

MQTT_APPLIED = "events/broker-access.applied"  # digest of the logins and ACL the broker read


class EventsBridge(SupervisorBase):
    """The MQTT events bridge and a local Mosquitto, supervised like the nodes."""

    def launch_events(self) -> None:
        """A local Mosquitto (``broker: local``) and the MQTT bridge, supervised like the
        nodes. Launched once members are enrolled, so the bridge boots while orderers and
        peers start (it retries them until they serve); ``events_ready`` waits for it.
        Its checkpoint lives in ``events/``, so a restart resumes where it was."""
        events = self.spec.events
        if events is None:
            return
        folder = self.home.root / "events"
        folder.mkdir(parents=True, exist_ok=True)
        if events.local:
            self._start_mosquitto(events, folder)
        self.write_connection_files()  # the bridge reads its identities from them
        self._start_bridge(events, folder)

    def events_ready(self) -> None:
        events = self.spec.events
        if events is None:
            return
        self._ready("mosquitto")
        self._wait_logged(self.processes["mqtt-bridge"], "mqtt bridge publishing")
        self.progress(f"  mqtt-bridge publishing to {events.broker_host}:{events.broker_port}")

    def _start_mosquitto(self, events: Events, folder: Path) -> None:
        from network.mqtt.broker import mosquitto_binary, mosquitto_config

        binary = mosquitto_binary()
        if binary is None:
            raise SupervisorError(
                "events: broker local needs mosquitto (deploy/install-deps.sh installs it)"
            )
        config = folder / "mosquitto.conf"
        host, port = events.broker_host, events.broker_port
        secured, pending = self._broker_files(events)
        config.write_text(mosquitto_config(host, port, folder / "mosquitto", secured))
        self._start("mosquitto", [binary, "-c", str(config)], host, port)
        if pending is not None:  # a broker started now reads them anyway
            if "mosquitto" not in self.started:
                self.processes["mosquitto"].reload()
            self._broker_applied(pending)

    def refresh_broker_access(self) -> None:
        """Bring the running broker's logins and ACLs in line with the network's members
        and their channels (after ``channel add-member`` / ``remove-member``): the files
        are rewritten and the broker told to re-read them, without a restart."""
        events = self.spec.events
        if events is None or not events.local:
            return
        _, pending = self._broker_files(events)
        if pending is not None:  # a broker that does not run reads them when it starts
            self.home.process("mosquitto", [], events.broker_host, events.broker_port).reload()
            self._broker_applied(pending)

    def _broker_files(self, events: Events) -> tuple[BrokerFiles, str | None]:
        """TLS (a certificate from a CA of the broker's own: the broker starts before the
        ordering organization exists), a password for the bridge and for each current
        member, and ACLs (``network.mqtt.access``). TLS and passwords are made once; a
        restart keeps them. A member voted out loses its password, so one invited back
        under its name gets a new one.

        Also what the broker has not been told yet: the digest of these logins and rules
        when they differ from the ones last applied (``_broker_applied``, recorded after
        the broker re-read them), else None. The record is written last, so a crash
        between writing the files and the broker re-reading them is redone by the next
        pass; nothing is rewritten (re-salted) or signalled when nothing changed."""
        tls = self.home.root / MQTT_TLS
        if not (tls / "server.crt").exists():
            raw_key = ec.generate_private_key(ec.SECP256R1())
            root_key = SoftwareCaKey(raw_key)
            subject = ca_name(f"mqtt-broker.{self.spec.name}", "events")
            issuer = Issuer(self_signed_ca(root_key, subject, 3650), root_key)
            self.write_tls_server(issuer, "mqtt-broker", events.broker_host, tls)
        users_file = self.home.root / MQTT_USERS
        kept = json.loads(users_file.read_text()) if users_file.exists() else {}
        names = (BRIDGE_USER, *(m.name for m in self.members))
        users = {name: kept.get(name) or new_password() for name in names}
        folder = users_file.parent
        files = BrokerFiles(
            tls / "server.crt",
            tls / "server.key",
            tls / "ca.crt",
            folder / "passwd",
            folder / "acl",
        )
        channels = {
            m.name: [c.name for c in self.spec.channels if m.name in self.channel_members(c)]
            for m in self.members
        }
        rules = acl(self.spec.name, channels, events.ingress_member or None)
        digest = hashlib.sha256((json.dumps(users, sort_keys=True) + rules).encode()).hexdigest()
        if _text(self.home.root / MQTT_APPLIED) == digest and files.passwords.exists():
            return files, None
        write_atomically(users_file, json.dumps(users, indent=2), mode=0o600)
        lines = "".join(password_line(user, password) for user, password in users.items())
        write_atomically(files.passwords, lines, mode=0o600)
        write_atomically(files.acl, rules)
        return files, digest

    def _broker_applied(self, digest: str) -> None:
        """Record that the broker has read the logins and rules of ``digest``."""
        write_atomically(self.home.root / MQTT_APPLIED, digest, mode=0o600)

    def _start_bridge(self, events: Events, folder: Path) -> None:
        connections = self.home.root / "connection"
        member = self.member(events.member)
        config: dict[str, Any] = {
            "network": self.spec.name,
            "broker": f"{events.broker_host}:{events.broker_port}",
            "channels": [
                c.name for c in self.spec.channels if member.name in self.channel_members(c)
            ],
            "deliver": {"connection": str(connections / f"{member.name}.json")},
            "checkpoint": str(folder / "checkpoint.json"),
            "governance": {
                "control_plane": self.control_plane_url,
                "network_id": self.state.get("network_id", ""),
            },
        }
        login = self.mqtt_login(BRIDGE_USER)
        if login is not None:
            config["login"] = login.as_json()
        if events.ingress_member:
            config["ingress"] = {
                "connection": str(connections / f"{events.ingress_member}.json"),
                "identity": events.ingress_identity,
            }
            # and every member submits as itself on its own topics (a member voted in
            # later too: the bridge finds its connection file at its first request)
            config["member_ingress"] = {
                "connections": str(connections),
                "identity": events.ingress_identity,
            }
        listen = self.operations_listen("mqtt-bridge", "127.0.0.1", events.operations_port)
        config["operations"] = {"listen": listen}
        path = folder / "bridge.yaml"
        path.write_text(json.dumps(config, indent=2))  # JSON is YAML
        command = [*CONSORTIUM, "node", "run", "mqtt-bridge", "--config", str(path)]
        # host:port is where it publishes (it listens nowhere), shown by `up` and `status`
        self._start("mqtt-bridge", command, events.broker_host, events.broker_port, listen)


def _text(path: Path) -> str | None:
    try:
        return path.read_text()
    except FileNotFoundError:
        return None
