"""How an operation is declared, and what it is handed when it runs.

An operation is data, not a method: its name, its HTTP route, its input shape and one
function. The engine (``network/controlplane/service.py``) and the REST layer
(``network/controlplane/api.py``) treat every declaration alike, so the routine around
an operation (check the input, run it in one transaction, honour its ClientRequestToken,
remember the answer, publish the events) is written once for all of them. The function
only reads, or checks and stages documents on the transaction it is handed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ledgerdb.database import LedgerDatabase
from network.controlplane.clock import Clock
from network.controlplane.ledger import Txn
from network.controlplane.passwords import Secrets
from network.controlplane.request_shapes import Struct

Document = dict[str, Any]
TOKEN = "ClientRequestToken"  # AMB's idempotency token, in the input of every Create…


@dataclass(frozen=True)
class Environment:
    """What the operations need of the service around them; fixed for its life."""

    database: LedgerDatabase
    clock: Clock
    region: str
    reconcile: str  # "immediate": no supervisor, changes take effect at once
    secrets: Secrets
    member_quota: int | None


@dataclass(frozen=True)
class Call:
    """One request inside its transaction: who asks, with what input (already checked)."""

    txn: Txn
    caller: str
    params: Mapping[str, Any]
    env: Environment


Run = Callable[..., Any]  # (call, *the route's path ids) -> the answer


@dataclass(frozen=True)
class Operation:
    """An operation as the API names and routes it; ``run`` reads or stages."""

    name: str  # AMB's name (our own for the few AMB lacks); it also scopes request tokens
    route: str  # "METHOD /path/{id}", as in AMB's model
    run: Run
    shape: Struct | None = None  # the body (POST, PATCH) or query string (GET, DELETE)
    local: bool = False  # the supervisor's: loopback callers only, acting as the system

    writes: ClassVar[bool] = False

    @property
    def method(self) -> str:
        return self.route.split(" ", 1)[0]

    @property
    def path(self) -> str:
        return self.route.split(" ", 1)[1]

    @property
    def path_ids(self) -> tuple[str, ...]:
        """The route's placeholders, in order: ``run`` takes them after the call."""
        return tuple(re.findall(r"{(\w+)", self.path))

    @property
    def takes_body(self) -> bool:
        return self.method in ("POST", "PATCH")

    @property
    def idempotent(self) -> bool:
        """AMB gives an operation a ClientRequestToken exactly when a retry must not repeat it."""
        return self.shape is not None and TOKEN in self.shape.members

    @property
    def python_name(self) -> str:
        """boto3's name for it (``CreateNetwork`` → ``create_network``)."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.name).lower()

    def check(self, payload: Any) -> dict[str, Any]:
        """The input cleaned by its shape; an operation without one ignores its input."""
        return {} if self.shape is None else self.shape.check(payload, "")

    def queue(self, ids: Sequence[str]) -> str | None:
        """Which changes this one waits behind (None: it needs no queue)."""
        return None

    def arguments(self, args: Sequence[Any]) -> tuple[tuple[str, ...], Any]:
        """(path ids, input) from positional arguments: the ids in route order, then the
        input if the operation takes one."""
        wanted = [*self.path_ids, *(["input"] if self.shape is not None else [])]
        if len(args) != len(wanted):
            raise TypeError(f"{self.python_name}() takes the caller, then: {wanted}")
        count = len(self.path_ids)
        return tuple(args[:count]), args[count] if self.shape is not None else None


@dataclass(frozen=True)
class Read(Operation):
    """Runs on a snapshot and writes nothing."""


@dataclass(frozen=True)
class Mutation(Operation):
    """Checks and stages documents that commit as one journal block, or writes nothing.

    ``queue_by`` names a path id whose mutations run one after another (votes on one
    proposal, changes to one network), so a busy resource does not keep conflicting.
    """

    queue_by: str | None = None

    writes: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if self.queue_by is not None and self.queue_by not in self.path_ids:
            raise ValueError(f"{self.name} queues by {self.queue_by}, not in {self.route}")

    def queue(self, ids: Sequence[str]) -> str | None:
        return None if self.queue_by is None else ids[self.path_ids.index(self.queue_by)]


@dataclass(frozen=True)
class NetworkMutation(Mutation):
    """A change inside one network: it waits for the network's other changes."""

    queue_by: str | None = "networkId"
