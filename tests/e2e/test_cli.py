"""The console script as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rx_gateway.config import Settings
from rx_gateway.domain.errors import InvalidRequest


def _run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rx_gateway", *args],
        capture_output=True,
        text=True,
        timeout=240,
        env=env or dict(os.environ),
        check=False,
    )


def test_demo_command_exits_zero_and_prints_the_table() -> None:
    """`rx-gateway demo`: embedded database, synthetic data, scripted claims, all as expected."""
    result = _run("demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "scripted claims answered as expected" in result.stdout
    assert "NO " not in result.stdout


def test_logs_carry_no_phi(tmp_path: Path) -> None:
    """The demo's whole output holds no synthetic name, birth date or cardholder ID.

    The demo generates with the same seed, so the first members here are the demo's members.
    """
    data = tmp_path / "data"
    assert _run("generate", str(data), "--members", "300").returncode == 0
    members = (data / "members.csv").read_text().splitlines()[1:]
    result = _run("demo")
    output = result.stdout + result.stderr
    for row in members[:50]:
        _, cardholder, _, _, _, _, first, last, born, _ = row.split(",")
        assert cardholder not in output
        assert born not in output
        assert f"{first} {last}" not in output
    assert result.returncode == 0


def test_generate_and_load_report_counts(tmp_path: Path) -> None:
    """`generate` writes a dataset with fixtures; a bad load exits 1 naming file and line."""
    data = tmp_path / "data"
    assert _run("generate", str(data), "--members", "200").returncode == 0
    fixtures = json.loads((data / "fixtures.json").read_text())
    assert fixtures["members"]["part_d"]["plan_id"] == "PARTD-STD-2026"
    (data / "pharmacies.csv").write_text("npi,name,network,kind\n1,x,nowhere,retail\n")
    env = dict(os.environ, RX_GATEWAY_DATA_DIR=str(tmp_path / "state"))
    result = _run("load", str(data), env=env)
    assert result.returncode == 1
    assert "pharmacies.csv:2: field 'network'" in result.stderr


def test_settings_from_env_validates() -> None:
    """Limits come from RX_GATEWAY_* variables; a bad value names the variable."""
    settings = Settings.from_env(
        {"RX_GATEWAY_DB_POOL_SIZE_MAX": "20", "RX_GATEWAY_LISTEN": "127.0.0.1:1"}
    )
    assert settings.pool.size_max == 20
    assert settings.listen_address == "127.0.0.1:1"
    assert settings.database_url is None
    with pytest.raises(InvalidRequest, match="RX_GATEWAY_DB_POOL_SIZE_MAX"):
        Settings.from_env({"RX_GATEWAY_DB_POOL_SIZE_MAX": "many"})
    with pytest.raises(InvalidRequest, match="RX_GATEWAY_DB_POOL_SIZE_MIN"):
        Settings.from_env({"RX_GATEWAY_DB_POOL_SIZE_MIN": "30"})
