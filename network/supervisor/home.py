"""The network's folder (``.consortium/<network>/``) and the small things every step uses."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from network.processes import NodeProcess

ROOT = Path(__file__).resolve().parents[2]
NODE_INSTANCE_TYPE = "bc.t3.small"  # what a local peer "is", to the control plane
SAMPLES = ROOT / "chaincode" / "samples"
CONFIG_BLOCK_POLLS = 300  # 0.1 s apart: how long a config update may take to show


def new_password() -> str:
    """An AMB-acceptable admin password: 8–32 characters with upper, lower and a digit."""
    return "Aa1" + secrets.token_hex(8)


@dataclass
class Home:
    """The network's folder and where each thing lives in it."""

    root: Path

    def __post_init__(self) -> None:
        self.root = self.root.resolve()  # child processes run elsewhere

    def state_file(self) -> Path:
        return self.root / "state.json"

    def load_state(self) -> dict[str, Any]:
        path = self.state_file()
        return json.loads(path.read_text()) if path.exists() else {}

    def save_state(self, state: dict[str, Any]) -> None:
        write_atomically(self.state_file(), json.dumps(state, indent=2), mode=0o600)

    def process(
        self, name: str, command: list[str], host: str, port: int, operations: str = ""
    ) -> NodeProcess:
        return NodeProcess(
            name,
            tuple(command),
            host,
            port,
            self.root / "logs" / f"{name}.log",
            self.root / "pids" / f"{name}.pid",
            ROOT,
            operations,
        )

    def applied_spec(self) -> Path:
        """The copy of the last spec ``up`` applied, which the reconciler works from: an
        edited spec file that ``up`` refused must not become the network's target."""
        return self.root / "applied-spec.yaml"

    def record_applied_spec(self, spec_file: Path) -> None:
        """Copy ``spec_file`` with its chaincode paths made absolute (they are relative
        to the file it was written in)."""
        data = yaml.safe_load(spec_file.read_text())
        for chaincode in data.get("chaincodes") or []:
            if isinstance(chaincode, dict) and "path" in chaincode:
                chaincode["path"] = str((spec_file.parent / str(chaincode["path"])).resolve())
        header = f"# the spec `consortium up` last applied, from {spec_file.resolve()}\n"
        target = self.applied_spec()
        temporary = target.with_suffix(".tmp")
        temporary.write_text(header + yaml.safe_dump(data, sort_keys=False))
        temporary.replace(target)

    def member(self, member: str) -> Path:
        return self.root / "members" / member


def write_atomically(path: Path, text: str, mode: int | None = None) -> None:
    """Write ``text`` beside ``path`` and rename it into place: a reader (a CLI command
    while the reconciler rewrites connection files) sees the old file or the new one,
    never an empty or half-written one. The temporary name is per process, so two
    writers do not write into each other's."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    if mode is not None:
        temporary.chmod(mode)
    temporary.replace(path)
