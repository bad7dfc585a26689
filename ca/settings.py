"""A member CA's configuration, kept as ``ca.yaml`` in its home folder.

Written once when the home is created (from command-line choices) and read on every
start, so an operator can edit limits (max enrollments, affiliations, expiry) between
restarts the way they edit ``fabric-ca-server-config.yaml``.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import yaml

from ca.errors import SettingsError

DEFAULT_AFFILIATIONS = ("org1.department1", "org1.department2", "org2.department1")


@dataclass(frozen=True)
class CaSettings:
    name: str = "ca"
    tls_name: str = "tlsca"
    mspid: str = "Org1MSP"
    organization: str = "Org1"
    # Fabric CA's registry.maxenrollments: -1 unlimited, 0 disables enrollment.
    max_enrollments: int = -1
    affiliations: tuple[str, ...] = DEFAULT_AFFILIATIONS
    cert_expiry_days: int = 365
    ca_expiry_days: int = 3650
    crl_expiry_hours: int = 24

    def __post_init__(self) -> None:
        for name in ("name", "tls_name", "mspid", "organization"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise SettingsError(f"ca.yaml: {name} must be non-empty text")
        if self.name == self.tls_name:
            raise SettingsError("ca.yaml: name and tls_name must differ")
        for name in ("max_enrollments", "cert_expiry_days", "ca_expiry_days", "crl_expiry_hours"):
            if not isinstance(getattr(self, name), int) or isinstance(getattr(self, name), bool):
                raise SettingsError(f"ca.yaml: {name} must be a whole number")
        if self.max_enrollments < -1:
            raise SettingsError("ca.yaml: max_enrollments must be -1 (unlimited) or more")
        if min(self.cert_expiry_days, self.ca_expiry_days, self.crl_expiry_hours) < 1:
            raise SettingsError("ca.yaml: expiry values must be at least 1")
        if not all(isinstance(a, str) and a for a in self.affiliations):
            raise SettingsError("ca.yaml: affiliations must be non-empty text")

    def save(self, path: str | os.PathLike[str]) -> None:
        data = asdict(self)
        data["affiliations"] = list(self.affiliations)
        target = Path(path)
        temp = target.with_name(f".{target.name}.tmp")
        temp.write_text(yaml.safe_dump(data, sort_keys=False))
        os.replace(temp, target)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> CaSettings:
        try:
            data = yaml.safe_load(Path(path).read_text()) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise SettingsError(f"{path} cannot be read: {exc}") from None
        if not isinstance(data, dict):
            raise SettingsError(f"{path} is not a mapping")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise SettingsError(f"{path}: unknown field(s) {', '.join(sorted(unknown))}")
        if "affiliations" in data:
            if not isinstance(data["affiliations"], list):
                raise SettingsError(f"{path}: affiliations must be a list")
            data["affiliations"] = tuple(data["affiliations"])
        return cls(**data)
