"""Fixtures every part's tests share."""

from __future__ import annotations

import pytest

from ca.ephemeral import ephemeral_signer
from ca.signing import SoftwareSigner


@pytest.fixture
def signer() -> SoftwareSigner:
    return ephemeral_signer()
