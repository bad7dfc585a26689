"""Conformance tests run real third-party clients against real consortium processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conformance.ca_process import start_ca, stop


@pytest.fixture(scope="module")
def ca_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process, url = start_ca(tmp_path_factory.mktemp("ca") / "home")
    try:
        yield url
    finally:
        stop(process)
