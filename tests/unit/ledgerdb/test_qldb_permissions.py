"""STANDARD mode's rules: which QLDB action each PartiQL command needs on which table, and
IAM's evaluation of the policy file (explicit Deny wins, wildcards, default deny)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ledgerdb.errors import InvalidInput
from ledgerdb.qldb_permissions import Need, Policies, check, needs

ARN = "arn:aws:qldb:us-east-1:000000000000:ledger/dmv"


@pytest.mark.parametrize(
    ("statement", "expected"),
    [
        ("CREATE TABLE Person", [Need("qldb:PartiQLCreateTable", "Person")]),
        ("DROP TABLE Person", [Need("qldb:PartiQLDropTable", "Person")]),
        ("CREATE INDEX ON Person (GovId)", [Need("qldb:PartiQLCreateIndex", "Person")]),
        ("INSERT INTO Person ?", [Need("qldb:PartiQLInsert", "Person")]),
        (
            "UPDATE Person AS p SET p.x = 1 WHERE p.id IN (SELECT VALUE v.o FROM Vehicle AS v)",
            [Need("qldb:PartiQLUpdate", "Person"), Need("qldb:PartiQLSelect", "Vehicle")],
        ),
        ("DELETE FROM Person AS p WHERE p.x = 1", [Need("qldb:PartiQLDelete", "Person")]),
        ("FROM Person AS p INSERT INTO p.tags VALUE 1", [Need("qldb:PartiQLInsert", "Person")]),
        (
            "SELECT * FROM Vehicle AS v, v.owners AS o, _ql_committed_Person AS p",
            [Need("qldb:PartiQLSelect", "Vehicle"), Need("qldb:PartiQLSelect", "Person")],
        ),
        ("SELECT * FROM history(Person) AS h", [Need("qldb:PartiQLHistoryFunction", "Person")]),
        (
            "SELECT * FROM information_schema.user_tables",
            [Need("qldb:PartiQLSelect", None, "user_tables")],
        ),
        ("EXEC redact_revision ?, ?, ?", [Need("qldb:PartiQLRedact", "T1")]),
        ("SELEC nonsense", []),
    ],
)
def test_each_command_needs_qldbs_action(statement: str, expected: list[Need]) -> None:
    assert needs(statement, [{"strandId": "s", "sequenceNo": 1}, "T1", "D1"]) == expected


def _policies(tmp_path: Path, value: object) -> Policies:
    path = tmp_path / "policies.json"
    path.write_text(json.dumps(value))
    return Policies.load(path)


def test_iam_evaluation(tmp_path: Path) -> None:
    policies = _policies(
        tmp_path,
        {
            "AK": [
                {"Effect": "Allow", "Action": ["qldb:SendCommand"], "Resource": ARN},
                {"Effect": "Allow", "Action": "qldb:partiql*", "Resource": f"{ARN}/table/*"},
                {"Effect": "Deny", "Action": "qldb:PartiQLDelete", "Resource": f"{ARN}/table/P?"},
            ]
        },
    )
    no_ids = lambda name: None  # noqa: E731
    assert check(policies, "AK", ARN, "SELECT * FROM Person", [], no_ids) is None
    assert check(policies, "AK", ARN, "DELETE FROM Px AS p", [], no_ids) is not None
    assert check(policies, "AK", ARN, "DELETE FROM Pxy AS p", [], no_ids) is None
    denied = check(policies, "OTHER", ARN, "SELECT * FROM Person", [], no_ids)
    assert denied is not None and "qldb:SendCommand on resource: " + ARN in denied.message
    # A table's id is its ARN's last part; its name matches too.
    by_id = _policies(
        tmp_path,
        {"AK": [{"Effect": "Allow", "Action": "qldb:*", "Resource": [ARN, f"{ARN}/table/ID1"]}]},
    )
    assert check(by_id, "AK", ARN, "SELECT * FROM Person", [], lambda name: "ID1") is None
    denied = check(by_id, "AK", ARN, "SELECT * FROM Person", [], lambda name: "ID2")
    assert denied is not None and denied.message.endswith(f"{ARN}/table/ID2")
    assert check(None, "AK", ARN, "SELECT * FROM Person", [], no_ids) is not None


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ([1], "keyed by access key"),
        ({"AK": "x"}, "list of policy statements"),
        ({"AK": [{"Effect": "Maybe"}]}, "Effect"),
        ({"AK": [{"Effect": "Allow", "Action": [], "Resource": "*"}]}, "Action"),
        ({"AK": [{"Effect": "Allow", "Action": "qldb:*"}]}, "Resource"),
    ],
)
def test_bad_policy_files_are_refused(tmp_path: Path, value: object, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        _policies(tmp_path, value)
