"""Found by the fuzzer (tests/fuzz/test_fuzz_ledgerdb.py): amazon.ion's C extension loops
forever, GIL held, on these 40 bytes, and one statement parameter froze a whole
``ledger serve``. Untrusted Ion goes through the pure-Python reader, which refuses them.
Each check runs in a child process so that a regression fails instead of hanging the run."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
FREEZES_C_READER = (
    "e00100eaeeda8183ded687be8fc2ae3fc3b0c2ba0cc38a0a8ef19baa83f1a089bcf3ab9298c3aa82"
)


def _run(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code, FREEZES_C_READER],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_statement_parameter_that_froze_the_server_is_invalid_input() -> None:
    out = _run(
        "import sys\n"
        "from ledgerdb.errors import InvalidInput\n"
        "from ledgerdb.service import decode_parameters\n"
        "try:\n"
        "    decode_parameters([bytes.fromhex(sys.argv[1])])\n"
        "except InvalidInput as exc:\n"
        "    print(exc)\n"
    )
    assert out.startswith("parameters[1] is not valid Ion binary")


def test_the_qldb_session_api_refuses_it_too() -> None:
    out = _run(
        "import base64, sys\n"
        "from ledgerdb.qldb_session import BadRequestException, decode_parameter\n"
        "blob = base64.b64encode(bytes.fromhex(sys.argv[1])).decode()\n"
        "try:\n"
        "    decode_parameter({'IonBinary': blob}, 'Parameters[0]')\n"
        "except BadRequestException as exc:\n"
        "    print(exc)\n"
    )
    assert out.startswith("Parameters[0].IonBinary is not one valid Ion value")
