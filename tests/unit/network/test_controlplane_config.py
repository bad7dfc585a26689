"""The control plane's configuration file: every bad key or value named in one line."""

from __future__ import annotations

from pathlib import Path

import pytest

from network.controlplane.server import Config, ConfigError, load_config


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "cp.yaml"
    path.write_text(text)
    return path


def test_defaults_without_a_file() -> None:
    assert load_config(None) == Config()


def test_a_full_file(tmp_path: Path) -> None:
    (tmp_path / "creds").write_text("")
    config = load_config(
        write(
            tmp_path,
            "host: 0.0.0.0\nregion: eu-west-1\nstrict: true\ncredentials_file: creds\n"
            "reconcile: external\nclock: manual\nrate_limit: 2.5\nburst: 5\n"
            "sweep_seconds: 0.5\nmember_quota: 100\n",
        )
    )
    assert config.credentials_file == tmp_path / "creds"  # relative to the config file
    assert (config.region, config.strict, config.reconcile, config.clock) == (
        "eu-west-1",
        True,
        "external",
        "manual",
    )
    assert (config.rate_limit, config.member_quota) == (2.5, 100)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("colour: blue\n", "colour"),
        ("strict: yes-please\n", "strict"),
        ("rate_limit: fast\n", "rate_limit"),
        ("member_quota: true\n", "member_quota"),
        ("member_quota: 0\n", "member_quota"),
        ("clock: sundial\n", "clock"),
        ("strict: true\n", "credentials_file"),
        ("- a\n- b\n", "mapping"),
        ("host: [unclosed\n", "cannot read"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        load_config(write(tmp_path, text))
