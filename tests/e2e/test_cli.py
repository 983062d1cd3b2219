"""The console script as a user runs it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from rx_gateway.bootstrap import Database
from rx_gateway.cli import build_parser as _parser
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


def test_demo_command_exits_zero_and_prints_the_table(tmp_path: Path) -> None:
    """`rx-gateway demo`: embedded database, synthetic data, scripted claims, all as expected.

    By default it prints the table and nothing else: no JSON log line, no grpc fork warning,
    and every detail whole (a long one wraps onto lines of its own, nothing is cut)."""
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {k: v for k, v in os.environ.items() if k != "RX_GATEWAY_LOG_LEVEL"}
    env["TMPDIR"] = str(temporary)  # where the demo makes (and removes) its working directory
    result = _run("demo", "--out", str(tmp_path / "settlement"), env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    # its working directory is gone: pgserver's exit handler wrote its lock file back into it
    # (an outside tester found /tmp/rxgw-demo-*/python_PostgresServer/.lockfile). Other
    # tools' runtime directories (platformdirs' runtime-<uid>) may appear there: not the demo's
    assert list(temporary.glob("rxgw-demo-*")) == []
    assert "scripted claims answered as expected" in result.stdout
    # issue 18: the demo ends with a price check, a rewarded claim and a simulation, whose
    # replay of the demo's own claims under the unchanged design reproduces every one
    assert "price check: " in result.stdout and "cheapest alternative" in result.stdout
    assert "reward: maintenance drug by 90-day mail" in result.stdout
    assert "reproduction rate: 100.00%" in result.stdout
    # it ends with the week settled: a pay cycle, billing cycles, and the files it wrote
    assert "Pay cycle PAY-7D-SUN-3-" in result.stdout and "Billing cycle INV-" in result.stdout
    written = [line.strip() for line in result.stdout.splitlines() if line.startswith("  /")]
    assert any(p.endswith(".835") for p in written) and all(Path(p).exists() for p in written)
    assert "NO " not in result.stdout
    output = result.stdout + result.stderr
    assert not [line for line in output.splitlines() if line.lstrip().startswith("{")]
    assert "fork_posix" not in output
    assert result.stderr == ""
    assert result.stdout.splitlines()[0].split() == [
        "#",
        "scenario",
        "want",
        "got",
        "F5",
        "member",
        "plan",
        "purse",
        "ok",
        "detail",
    ]
    # the 83's detail is 78 characters: it used to be cut at 60
    joined = " ".join(result.stdout.split())
    assert "already paid under this Rx, fill and date: reverse it first" in joined


def test_logs_carry_no_phi(tmp_path: Path) -> None:
    """The demo's whole output holds no synthetic name, birth date or cardholder ID.

    The demo generates with the same seed, so the first members here are the demo's members.
    """
    data = tmp_path / "data"
    assert _run("generate", str(data), "--members", "300").returncode == 0
    members = (data / "members.csv").read_text().splitlines()[1:]
    # the demo is quiet by default: ask for its logs, which are what this test reads
    result = _run("demo", "--verbose", env=dict(os.environ, RX_GATEWAY_LOG_LEVEL="DEBUG"))
    assert '"level":"INFO"' in result.stderr
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
    (data / "pharmacies.csv").write_text("npi,name,network,kind\n1000000001,x,nowhere,retail\n")
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
    assert Settings.from_env({}).database_start_timeout_s == 30.0
    waits = Settings.from_env({"RX_GATEWAY_DATABASE_START_TIMEOUT_S": "2.5"})
    assert waits.database_start_timeout_s == 2.5
    for bad in ("soon", "0", "-1", "nan", "inf", "-inf"):
        with pytest.raises(InvalidRequest, match="RX_GATEWAY_DATABASE_START_TIMEOUT_S"):
            Settings.from_env({"RX_GATEWAY_DATABASE_START_TIMEOUT_S": bad})
    for name in (
        "RX_GATEWAY_DB_ACQUIRE_TIMEOUT_S",
        "RX_GATEWAY_DB_COMMAND_TIMEOUT_S",
        "RX_GATEWAY_SHUTDOWN_GRACE_S",
        "RX_GATEWAY_REFERENCE_POLL_S",
    ):  # NaN is not <= 0: it passed, then failed in the event loop with a traceback
        with pytest.raises(InvalidRequest, match=name):
            Settings.from_env({name: "nan"})
        with pytest.raises(InvalidRequest, match=name):
            Settings.from_env({name: "inf"})
    # an integer too long for math.isfinite (OverflowError) is refused like any other
    with pytest.raises(InvalidRequest, match="RX_GATEWAY_DB_POOL_SIZE_MAX"):
        Settings.from_env({"RX_GATEWAY_DB_POOL_SIZE_MAX": "9" * 400})


@pytest.mark.parametrize(
    "name",
    [
        "RX_GATEWAY_UVLOOP",
        "RX_GATEWAY_REUSE_PORT",
        "RX_GATEWAY_DEV_MODE",
        "RX_GATEWAY_BATCHING",
        "RX_GATEWAY_OTEL",
    ],
)
def test_on_off_settings_take_on_or_off_and_name_anything_else(name: str) -> None:
    field = {
        "RX_GATEWAY_UVLOOP": "use_uvloop",
        "RX_GATEWAY_REUSE_PORT": "reuse_port",
        "RX_GATEWAY_DEV_MODE": "dev_mode",
        "RX_GATEWAY_BATCHING": "batching",
        "RX_GATEWAY_OTEL": "otel_enabled",
    }[name]
    for on in ("1", "true", "YES", " on "):
        assert getattr(Settings.from_env({name: on}), field) is True
    for off in ("0", "false", "No", "OFF"):
        assert getattr(Settings.from_env({name: off}), field) is False
    assert getattr(Settings.from_env({name: ""}), field) is getattr(Settings(), field)
    for typo in ("2", "x", "enabled", "tru"):
        with pytest.raises(InvalidRequest, match=name):
            Settings.from_env({name: typo})


def test_an_unknown_log_level_is_one_line_for_every_command() -> None:
    """RX_GATEWAY_LOG_LEVEL=LOUD: a configuration error naming the variable and the levels
    (it was a ValueError traceback from logging, in every command)."""
    assert Settings.from_env({"RX_GATEWAY_LOG_LEVEL": "debug"}).log_level == "DEBUG"
    assert Settings.from_env({"RX_GATEWAY_LOG_LEVEL": "warn"}).log_level == "WARNING"
    assert Settings.from_env({"RX_GATEWAY_LOG_LEVEL": "FATAL"}).log_level == "CRITICAL"
    for command in (["migrate"], ["ncpdp", "decode"]):
        result = subprocess.run(
            [sys.executable, "-m", "rx_gateway", *command],
            capture_output=True,
            text=True,
            input="",
            timeout=60,
            env=_env(RX_GATEWAY_LOG_LEVEL="LOUD"),
            check=False,
        )
        line = _one_line_error(result)
        assert "RX_GATEWAY_LOG_LEVEL" in line and "'LOUD'" in line and "WARNING" in line


# --- A newcomer never sees a traceback (issue 11) -------------------------------------------


def _env(**overrides: str) -> dict[str, str]:
    """The test's environment without a configured database (the embedded one under
    --data-dir), plus ``overrides``."""
    env = {k: v for k, v in os.environ.items() if k != "RX_GATEWAY_DATABASE_URL"}
    env.update(overrides)
    return env


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The command failed with exactly one line on stderr, `rx-gateway: ...`, no traceback."""
    assert result.returncode != 0, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rx-gateway: "), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return lines[0]


@pytest.mark.parametrize("position", ["before", "after"])
def test_verify_on_a_fresh_data_dir_says_there_is_no_schema_and_creates_nothing(
    tmp_path: Path, position: str
) -> None:
    """No schema: one line naming the data directory and what to run; nothing is created.
    --data-dir works before and after the command's name."""
    data_dir = tmp_path / "fresh"
    args = ("--data-dir", str(data_dir), "verify")
    result = _run(*(args if position == "before" else args[2:] + args[:2]), env=_env())
    line = _one_line_error(result)
    assert "no rx-gateway schema" in line
    assert str(data_dir) in line
    assert "rx-gateway --data-dir" in line and "load DIR" in line and "migrate" in line
    assert not data_dir.exists()


async def test_verify_on_a_database_without_schema_migrates_nothing(fresh_database: Any) -> None:
    """A reachable database with no rx-gateway tables: the same one line, and verify does not
    create the schema as a side effect."""
    dsn = await fresh_database()
    result = await asyncio.to_thread(_run, "verify", env=_env(RX_GATEWAY_DATABASE_URL=dsn))
    line = _one_line_error(result)
    assert "no rx-gateway schema" in line and "rx-gateway migrate" in line
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT to_regclass('schema_migration')") is None
        assert await conn.fetchval("SELECT to_regclass('posting')") is None
    finally:
        await conn.close()


@pytest.mark.parametrize("command", ["serve", "migrate", "verify", "load"])
def test_data_dir_is_accepted_before_and_after_every_database_command(command: str) -> None:
    """`rx-gateway --data-dir X CMD` and `rx-gateway CMD --data-dir X` mean the same; a
    --data-dir before the name is not reset by the command's own (absent) option."""
    extra = ["somewhere"] if command == "load" else []
    parser = _parser()
    after = parser.parse_args([command, "--data-dir", "x", *extra])
    before = parser.parse_args(["--data-dir", "x", command, *extra])
    assert after.data_dir == before.data_dir == Path("x")
    assert parser.parse_args([command, *extra]).data_dir is None


def test_generate_options_have_help() -> None:
    """`generate --help` explains --seed and --members; too few members is one line."""
    result = _run("generate", "--help")
    assert result.returncode == 0
    help_text = " ".join(result.stdout.split())
    assert "--seed SEED random seed" in help_text
    assert "--members MEMBERS synthetic members" in help_text


def test_generate_with_too_few_members_is_one_line(tmp_path: Path) -> None:
    line = _one_line_error(_run("generate", str(tmp_path / "data"), "--members", "10"))
    assert "'10' is not a number of members of at least 100" in line


def _latin1_pharmacy(directory: Path) -> None:
    """pharmacies.csv whose line 3 holds one Latin-1 byte (é) in the name."""
    directory.mkdir()
    (directory / "pharmacies.csv").write_bytes(
        b"npi,name,network,kind\n1000000001,Main St,preferred,retail\n"
        b"1000000002,Caf\xe9 Pharmacy,preferred,retail\n"
    )


def _plan_document(text: str) -> Any:
    def make(directory: Path) -> None:
        (directory / "plans").mkdir(parents=True)
        (directory / "plans" / "P.json").write_text(text)

    return make


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (_latin1_pharmacy, "pharmacies.csv:3: field 'name': byte 0xe9 that is not UTF-8"),
        (lambda d: d.mkdir(), "holds no data files: nothing to load"),
        # a RecursionError and an int-digits ValueError were tracebacks
        (
            _plan_document("[" * 100_000 + "]" * 100_000),
            "P.json:1: field '(json)': not JSON: nested too deeply",
        ),
        (
            _plan_document('{"plan_id": ' + "9" * 5_000 + "}"),
            "P.json:1: field '(json)': not JSON: a number longer than",
        ),
    ],
    ids=["latin-1 byte", "empty directory", "nested too deeply", "an integer too long"],
)
async def test_a_bad_load_is_one_line_and_changes_nothing(
    fresh_database: Any, tmp_path: Path, make: Any, expected: str
) -> None:
    """A Latin-1 byte or a directory with no data files: one line naming file, line and
    problem, exit 1, and no new reference version."""
    dsn = await fresh_database()
    database = Database(dsn)
    await database.migrate()
    data = tmp_path / "data"
    make(data)
    result = await asyncio.to_thread(_run, "load", str(data), env=_env(RX_GATEWAY_DATABASE_URL=dsn))
    assert result.returncode == 1
    assert expected in _one_line_error(result)
    assert result.stdout == ""  # no "loaded: ..."
    conn = await asyncpg.connect(dsn)
    try:
        assert await conn.fetchval("SELECT count(*) FROM reference_version") == 0
        assert await conn.fetchval("SELECT count(*) FROM pharmacy") == 0
    finally:
        await conn.close()


def test_ncpdp_encode_of_json_nested_too_deeply_is_one_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rx_gateway", "ncpdp", "encode"],
        capture_output=True,
        text=True,
        input="[" * 100_000 + "]" * 100_000,
        timeout=60,
        env=_env(),
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "rx-gateway ncpdp encode: stdin is not JSON (nested too deeply: line 1 column 1"
        " (char 0)): give what `rx-gateway ncpdp decode` prints"
    )


def test_ncpdp_encode_of_text_that_is_no_json_says_so() -> None:
    """It said only "Expecting value: line 1 column 1 (char 0)" (a newcomer's catch)."""
    result = subprocess.run(
        [sys.executable, "-m", "rx_gateway", "ncpdp", "encode"],
        capture_output=True, text=True, input="nojson\n", timeout=60, env=_env(), check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "rx-gateway ncpdp encode: stdin is not JSON (Expecting value: line 1 column 1"
        " (char 0)): give what `rx-gateway ncpdp decode` prints"
    )


def test_an_unreachable_database_is_said_at_once_and_given_up_after_the_start_timeout() -> None:
    """A wrong RX_GATEWAY_DATABASE_URL (nothing listens there): a log line says at the first
    failed attempt that the gateway is retrying and for how long, and after
    RX_GATEWAY_DATABASE_START_TIMEOUT_S one line names the database; non-zero, no traceback."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]  # bound, never listening: connections are refused
        env = _env(
            RX_GATEWAY_DATABASE_URL=f"postgresql://nobody@127.0.0.1:{closed}/rx",
            RX_GATEWAY_DATABASE_START_TIMEOUT_S="1",
            RX_GATEWAY_DEV_MODE="1",
        )
        result = _run("serve", "--listen", "127.0.0.1:0", env=env)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("rx-gateway:")]
    assert errors == [
        f"rx-gateway: cannot reach database 127.0.0.1:{closed}/rx: ConnectionRefusedError:"
        " [Errno 111] Connection refused"
    ], result.stderr
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    retrying = [entry for entry in logged if entry["msg"] == "database not answering, retrying"]
    assert len(retrying) == 1, result.stderr
    assert retrying[0]["retry_for_s"] == 1.0
    assert retrying[0]["setting"] == "RX_GATEWAY_DATABASE_START_TIMEOUT_S"
    assert "nobody" not in result.stderr  # the URL's user is not repeated


def test_a_malformed_listen_address_is_one_line() -> None:
    """--listen nonsense: one line naming the option and the address, before anything starts."""
    for address in ("nonsense", "127.0.0.1:99999", ":50051", "127.0.0.1:\u00b2", "[::1:50051"):
        line = _one_line_error(
            _run("serve", "--listen", address, env=_env(RX_GATEWAY_DEV_MODE="1"))
        )
        assert "--listen" in line and repr(address) in line


@pytest.mark.parametrize("listener", ["claims", "admin"])
async def test_a_busy_port_is_one_line_naming_the_address(
    fresh_database: Any, listener: str
) -> None:
    """A port already bound (another gateway running): one line naming the address, the
    setting that chose it and what is wrong; for the claim and the admin listener alike."""
    dsn = await fresh_database()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        busy = f"127.0.0.1:{holder.getsockname()[1]}"
        env = _env(RX_GATEWAY_DATABASE_URL=dsn, RX_GATEWAY_DEV_MODE="1")
        if listener == "claims":
            args = ("serve", "--listen", busy)
        else:
            env |= {
                "RX_GATEWAY_ADMIN_TOKENS": "ops=a-token-of-sixteen-chars",
                "RX_GATEWAY_ADMIN_LISTEN": busy,
            }
            args = ("serve", "--listen", "127.0.0.1:0")
        result = await asyncio.to_thread(_run, *args, env=env)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("rx-gateway:")]
    assert len(errors) == 1, result.stderr
    assert f"cannot listen on {busy}" in errors[0]
    assert "already in use" in errors[0]
    setting = "RX_GATEWAY_LISTEN" if listener == "claims" else "RX_GATEWAY_ADMIN_LISTEN"
    assert setting in errors[0]
    assert "rx-gateway listening" not in result.stdout


def test_numbers_say_what_they_must_be_and_the_poll_has_a_floor() -> None:
    """A count that is not a whole number says so (it said "must be a number" of '2.5'); the
    reference poll below 0.1 s is refused (a 1e-7 s poll kept an idle gateway at half a core)."""
    with pytest.raises(InvalidRequest, match="must be a whole number from 1 to"):
        Settings.from_env({"RX_GATEWAY_DB_POOL_SIZE_MAX": "2.5"})
    # two operators with one token: the audit named whichever came last
    with pytest.raises(InvalidRequest, match="share a token"):
        Settings.from_env({"RX_GATEWAY_ADMIN_TOKENS": "alice=" + "t" * 20 + ",bob=" + "t" * 20})
    with pytest.raises(InvalidRequest, match="must be a whole number from 1 to"):
        Settings.from_env({"RX_GATEWAY_GRPC_CONCURRENT_RPCS_MAX": "1e10"})
    with pytest.raises(InvalidRequest, match=r"RX_GATEWAY_REFERENCE_POLL_S: must be at least 0\.1"):
        Settings.from_env({"RX_GATEWAY_REFERENCE_POLL_S": "0.0000001"})
    assert Settings.from_env({"RX_GATEWAY_REFERENCE_POLL_S": "0.1"}).reference_poll_s == 0.1
    # a connection's streams and age (half-closed calls grpc.aio never answers hold them)
    limited = Settings.from_env(
        {
            "RX_GATEWAY_GRPC_STREAMS_PER_CONNECTION_MAX": "50",
            "RX_GATEWAY_GRPC_CONNECTION_AGE_S": "120",
        }
    )
    assert (limited.grpc_streams_per_connection_max, limited.grpc_connection_age_s) == (50, 120.0)
    assert Settings.from_env({}).grpc_streams_per_connection_max == 100
    with pytest.raises(InvalidRequest, match="must be a whole number from 1 to"):
        Settings.from_env({"RX_GATEWAY_GRPC_STREAMS_PER_CONNECTION_MAX": "0"})
    with pytest.raises(InvalidRequest, match=r"RX_GATEWAY_GRPC_CONNECTION_AGE_S: must be at least"):
        Settings.from_env({"RX_GATEWAY_GRPC_CONNECTION_AGE_S": "0.5"})
    # a year "to turn it off" was grpc's OverflowError at start-up (milliseconds in 32 bits)
    with pytest.raises(InvalidRequest, match=r"CONNECTION_AGE_S: must be at most 2147483 "):
        Settings.from_env({"RX_GATEWAY_GRPC_CONNECTION_AGE_S": "31536000"})
    assert (
        Settings.from_env({"RX_GATEWAY_GRPC_CONNECTION_AGE_S": "2147483"}).grpc_connection_age_s
        == 2147483.0
    )


@pytest.mark.parametrize(
    ("argv", "environment", "expected"),
    [
        (["serve", "--workers", "0"], {}, "'0' is not a number of processes 1-64"),
        (["serve", "--workers", "-1"], {}, "'-1' is not a number of processes 1-64"),
        (
            ["serve", "--listen", "127.0.0.1:50999"],
            {"RX_GATEWAY_METRICS_LISTEN": "127.0.0.1:50999"},
            "RX_GATEWAY_METRICS_LISTEN: the metrics listener needs an address of its own, not"
            " the claim listener's 127.0.0.1:50999",
        ),
        (
            ["serve", "--listen", "127.0.0.1:0", "--workers", "2"],
            {},
            "--workers shares one port between the workers: give a port, not 0",
        ),
        (
            ["verify"],
            {"RX_GATEWAY_DATABASE_URL": "not-a-url"},
            "RX_GATEWAY_DATABASE_URL: must be a postgresql:// URL",
        ),
    ],
    ids=[
        "workers-0",
        "workers-negative",
        "metrics-on-the-claim-port",
        "workers-on-port-0",
        "database-url",
    ],
)
def test_a_mistake_at_start_is_one_line_and_a_non_zero_exit(
    argv: list[str], environment: dict[str, str], expected: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rx_gateway", *argv],
        capture_output=True,
        text=True,
        timeout=60,
        env=_env(RX_GATEWAY_DEV_MODE="1", **environment),
        check=False,
    )
    assert result.returncode != 0
    assert expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) <= 2


def test_output_to_a_reader_that_went_away_is_no_traceback(tmp_path: Path) -> None:
    """`rx-gateway ... | head -1`: the reader closes the pipe; the command stops quietly (it
    printed a BrokenPipeError traceback)."""
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before anything is written
    try:
        result = subprocess.run(
            [sys.executable, "-m", "rx_gateway", "generate", str(tmp_path / "data")],
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            # buffered, as a terminal user's Python is: the pipe fails at the last flush
            env={k: v for k, v in _env().items() if k != "PYTHONUNBUFFERED"},
            check=False,
        )
    finally:
        os.close(writer)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr == ""


async def test_what_the_database_refuses_at_start_is_one_line(fresh_database: Any) -> None:
    """A login that may not create in the schema (serve migrates first), then the same login
    owning it but limited to 2 connections while the pool opens 5: one line each (both were
    tracebacks: InsufficientPrivilegeError, TooManyConnectionsError)."""
    from urllib.parse import urlsplit, urlunsplit

    dsn: str = await fresh_database()
    login = f"rxgw_limited_{os.getpid()}"
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f"CREATE ROLE {login} LOGIN CONNECTION LIMIT 2")
        parts = urlsplit(dsn)
        where = parts.netloc.rpartition("@")[2]  # host:port, or "" with a socket in the query
        as_login = urlunsplit(parts._replace(netloc=f"{login}@{where}"))
        environment = _env(
            RX_GATEWAY_DATABASE_URL=as_login,
            RX_GATEWAY_DEV_MODE="1",
            RX_GATEWAY_DB_ROLE=login,
            RX_GATEWAY_DB_POOL_SIZE_MIN="5",
            RX_GATEWAY_DB_POOL_SIZE_MAX="5",
        )

        def serve() -> str:
            result = subprocess.run(
                [sys.executable, "-m", "rx_gateway", "serve", "--listen", "127.0.0.1:0"],
                capture_output=True,
                text=True,
                timeout=120,
                env=environment,
                check=False,
            )
            assert result.returncode == 1
            assert "Traceback" not in result.stderr, result.stderr
            return result.stderr.strip().splitlines()[-1]

        refused = await asyncio.to_thread(serve)
        assert refused.startswith(
            "rx-gateway: the database refused this login a privilege the command needs"
        ), refused
        await admin.execute(f"ALTER SCHEMA public OWNER TO {login}")
        await admin.execute(f"ALTER ROLE {login} CREATEROLE")
        limited = await asyncio.to_thread(serve)
        assert limited.startswith(
            "rx-gateway: the database refused a connection: too many connections"
        ), limited
        assert "RX_GATEWAY_DB_POOL_SIZE_MAX" in limited
    finally:
        await admin.execute(f"REASSIGN OWNED BY {login} TO CURRENT_USER")
        await admin.execute(f"DROP OWNED BY {login}")
        await admin.close()
        cleanup = await asyncpg.connect(dsn)
        try:
            await cleanup.execute(f"DROP ROLE IF EXISTS {login}")
        finally:
            await cleanup.close()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://postgres@127.0.0.1:notaport/db", "a port must be a number"),
        ("postgresql://postgres@[::1/db", "a broken [IPv6] host"),
        ("postgresql://postgres@127.0.0.1:99999/db", "a port must be a number of 0-65535"),
        ("mysql://root@127.0.0.1/db", "must be a postgresql:// URL"),
        # unencoded passwords: asyncpg split them into a port, a host or the database, and
        # the messages then showed the password's tail (or a traceback)
        ("postgresql://rxgw:s3cret/Pass@db/rx", "an @ or / past the host"),
        ("postgresql://rx:2024/s3cret@127.0.0.1:1/db", "an @ or / past the host"),
        ("postgresql://rx:Xy@9:s3cret@127.0.0.1:1/db", "a second @"),
        ("postgresql://rx:12?s3cret@127.0.0.1:1/db", "percent-encode"),
        ("postgresql://u@h1:5432:5433/db", "a port must be a number"),
        ("postgresql://u@h1:5432,/db", "an empty host"),
        ("postgresql://u@h1/db?port=abc", "a port must be a number"),
    ],
    ids=[
        "port not a number",
        "broken IPv6 host",
        "port past 65535",
        "another scheme",
        "unencoded slash",
        "unencoded slash after digits",
        "unencoded at",
        "unencoded question mark",
        "two ports",
        "empty host",
        "query port",
    ],
)
def test_a_malformed_database_url_is_one_line(url: str, expected: str) -> None:
    """asyncpg raised a bare ValueError (a traceback) on the first two and dropped the port of
    the third silently: the setting is checked when read, and never echoed (a password)."""
    if "?" not in url:
        url += "?password=s3cret"
    result = _run("migrate", env=_env(RX_GATEWAY_DATABASE_URL=url))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "s3cret" not in result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "RX_GATEWAY_DATABASE_URL" in line and expected in line, line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["bench", "--rates", "abc"], "'abc' is not comma-separated rates"),
        (["bench", "--rates", "0"], "'0' is not comma-separated rates"),
        (["bench", "--seconds", "-1"], "'-1' is not a number of seconds"),
        (["bench", "--members", "0"], "'0' is not a number of members of at least 100"),
        (["bench", "--front", "envoy"], "invalid choice: 'envoy' (choose from 'haproxy')"),
        (["bench", "--front-inflight", "0"], "'0' is not a whole number 1-10000"),
        (["bench", "--front-queue-ms", "2.5"], "'2.5' is not a whole number 1-10000"),
        (["generate", "--members", "0", "x"], "'0' is not a number of members"),
    ],
)
def test_bench_and_generate_options_are_checked_before_any_work(
    args: list[str], expected: str
) -> None:
    """They were tracebacks (ValueError, LookupError) or started a run with a negative
    duration: a usage line, exit 2."""
    result = _run(*args, env=_env())
    assert result.returncode == 2 and expected in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_generate_into_a_file_or_bench_out_a_file_is_one_line(tmp_path: Path) -> None:
    """generate into a path under a file was a FileExistsError/NotADirectoryError traceback;
    bench --out naming a file ran minutes of measuring first."""
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    line = _one_line_error(_run("generate", str(blocker / "data"), env=_env()))
    assert "cannot write the dataset there" in line and "a-file" in line
    line = _one_line_error(_run("bench", "--quick", "--out", str(blocker), env=_env()))
    assert "is a file, not a directory" in line


def test_bench_front_without_haproxy_is_one_line_before_any_work(tmp_path: Path) -> None:
    """`bench --front haproxy` on a machine without HAProxy: said at once, not after the
    minutes of measuring that come before the front's runs."""
    python_only = tmp_path / "bin"
    python_only.mkdir()
    (python_only / "python").symlink_to(sys.executable)
    line = _one_line_error(
        _run("bench", "--quick", "--front", "haproxy", env=_env(PATH=str(python_only)))
    )
    assert line == (
        "rx-gateway: --front haproxy: no haproxy on PATH"
        " (install HAProxy 2.4 or later, e.g. apt install haproxy)"
    )


def test_sigterm_to_a_command_stops_its_embedded_database(
    tmp_path: Path, dataset: tuple[Path, dict[str, Any]]
) -> None:
    """`load` on the embedded database, stopped by SIGTERM (a supervisor, `timeout`): it
    ended at once and left the PostgreSQL it started running, an orphan. Now it stops it on
    the way out, as on Ctrl-C: exit 143, one line, no postgres left in its data directory."""
    data_dir = tmp_path / "embedded"
    process = subprocess.Popen(
        [sys.executable, "-m", "rx_gateway", "--data-dir", str(data_dir), "load", str(dataset[0])],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )

    def postgres_pids() -> list[int]:
        found = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    cmdline = (entry / "cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if (
                    cmdline
                    and cmdline[0].endswith(b"postgres")
                    and str(data_dir).encode() in b" ".join(cmdline)
                ):
                    found.append(int(entry.name))
        return found

    try:
        deadline = time.monotonic() + 120
        while not postgres_pids():  # the embedded server is up: the load is under way
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 143, errors
    assert "Traceback" not in errors and errors.strip().splitlines()[-1] == "terminated", errors
    deadline = time.monotonic() + 30
    while postgres_pids() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert postgres_pids() == []


@pytest.mark.parametrize("command", ["encode", "decode"])
def test_ncpdp_with_nothing_on_stdin_says_what_it_wants(command: str) -> None:
    """An empty input said "Expecting value: line 1 column 1 (char 0)"."""
    result = subprocess.run(
        [sys.executable, "-m", "rx_gateway", "ncpdp", command],
        capture_output=True, text=True, input="", timeout=60, env=_env(), check=False,
    )  # fmt: skip
    assert result.returncode == 1 and "nothing on stdin" in result.stderr, result.stderr


def test_a_tls_file_setting_naming_a_directory_says_so(tmp_path: Path) -> None:
    """It said "no such file" of a directory that exists."""
    result = _run(
        "serve",
        env=_env(RX_GATEWAY_TLS_CERT_FILE=str(tmp_path), RX_GATEWAY_TLS_KEY_FILE=str(tmp_path)),
    )
    assert result.returncode == 2 and "is a directory, not a file" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_database_url_of_several_hosts_is_taken() -> None:
    """asyncpg takes several hosts (a primary and a standby); the check must not refuse them."""
    for url in (
        "postgresql://u@db1:5432,db2:5433/rx",
        "postgresql://u@db1:5433,db2/rx",
        "postgresql://u@[::1]:5432/rx",
        "postgresql:///rx?host=/run/postgresql",
        "postgresql://u:p%40ss%2Fw%3Fd@db/rx?sslmode=require",
        "postgres://u@db/rx?port=5433",
    ):
        assert Settings.from_env({"RX_GATEWAY_DATABASE_URL": url}).database_url == url


# Ctrl-C arriving while the command's modules are still being imported (grpc, asyncpg and
# protobuf take a noticeable fraction of a second): the import is made to raise the
# KeyboardInterrupt a Ctrl-C raises there, at its start, deterministically.
_INTERRUPTED_IMPORT = """
import sys

class Interrupted:
    def find_spec(self, name, path=None, target=None):
        if name == "rx_gateway.cli":
            raise KeyboardInterrupt
        return None

sys.meta_path.insert(0, Interrupted())
{run}
"""


@pytest.mark.parametrize(
    "run",
    [
        "import runpy; runpy.run_module('rx_gateway', run_name='__main__')",  # python -m
        "from rx_gateway.launch import main; sys.exit(main())",  # the console script's
    ],
)
def test_ctrl_c_while_the_command_is_importing_is_interrupted_not_a_traceback(run: str) -> None:
    """It printed Python's traceback of the import it stopped."""
    result = subprocess.run(
        [sys.executable, "-c", _INTERRUPTED_IMPORT.format(run=run), "ncpdp", "decode"],
        capture_output=True, text=True, input="", timeout=60, env=_env(), check=False,
    )  # fmt: skip
    assert (result.returncode, result.stderr) == (130, "interrupted\n"), result.stderr


def test_ctrl_c_while_a_command_waits_is_interrupted_not_a_traceback() -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "rx_gateway", "ncpdp", "decode"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=_env(),
    )  # fmt: skip
    time.sleep(3)  # its imports done, it reads stdin, which stays open
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert (process.returncode, stderr) == (130, "interrupted\n"), stderr
