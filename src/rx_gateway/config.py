"""Settings: one frozen value read once from the environment; limits are named with their unit."""

from __future__ import annotations

import datetime as dt
import importlib.util
import math
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import NoReturn
from urllib.parse import parse_qs, urlsplit

from rx_gateway.addresses import PORT_MAX, split_listen_address
from rx_gateway.domain.errors import InvalidRequest
from rx_gateway.service_layer.claims import RetryPolicy

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_ADMIN_LISTEN = "127.0.0.1:50052"
ADMIN_TOKEN_LENGTH_MIN = 16
# The claim path's least-privileged role (created by the migrations): it may run the claim
# functions and read, and nothing that creates money. RX_GATEWAY_DB_ROLE=none uses the login.
APPLICATION_ROLE = "rx_gateway_app"
# The admin interface's role: funding, coverage and authorizations, no claims.
ADMIN_ROLE = "rx_gateway_admin"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "[::1]", "localhost"})
# What RX_GATEWAY_OTEL=1 needs installed (the otel extra), and where it may send spans.
OTEL_MODULES = (
    "opentelemetry.sdk.trace",
    "opentelemetry.instrumentation.grpc",
    "opentelemetry.instrumentation.asyncpg",
)
OTEL_EXPORTERS = ("otlp", "console", "none")


@dataclass(frozen=True, slots=True)
class PoolLimits:
    # Every connection is opened (and warmed: see PostgresClaimStore.warm) at start-up. One
    # opened under load costs the claims waiting on it 10-20 ms (connect, then the first call
    # of each hot-path function compiles it and plans its statements in that backend).
    size_min: int = 10
    size_max: int = 10
    acquire_timeout_s: float = 2.0
    command_timeout_s: float = 5.0
    statement_timeout_ms: int = 5_000
    role: str | None = None  # SET ROLE on every pooled connection (e.g. rx_gateway_app)


def is_loopback(address: str) -> bool:
    """Whether a host:port listen address binds the loopback interface only."""
    host, _, _ = address.rpartition(":")
    return host in LOOPBACK_HOSTS


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = None  # None: start the embedded PostgreSQL under data_dir
    data_dir: Path = Path(".rx-gateway")
    listen_address: str = DEFAULT_LISTEN
    pool: PoolLimits = field(default_factory=lambda: PoolLimits(role=APPLICATION_ROLE))
    admin_db_role: str | None = ADMIN_ROLE
    # A claim whose family changed between its read and its write is adjudicated again.
    conflict_retry: RetryPolicy = field(default_factory=RetryPolicy)
    grpc_concurrent_rpcs_max: int = 2_000
    # A call that half-closes without its message is never answered by grpc.aio (grpc's own
    # behaviour): its stream holds one of the slots above until its connection closes. One
    # connection may hold this many streams at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS),
    # and every connection is closed after this age (GOAWAY, then CONNECTION_GRACE_S for
    # calls in flight; clients reconnect on their own), so no one holds the slots for long.
    grpc_streams_per_connection_max: int = 100
    grpc_connection_age_s: float = 600.0
    grpc_message_bytes_max: int = 64 * 1024
    shutdown_grace_s: float = 5.0
    database_start_timeout_s: float = 30.0
    # uvloop where it installs: measured with `rx-gateway bench`, it cut the gateway's CPU per
    # claim by 12-25% against asyncio's own loop (README, Performance)
    use_uvloop: bool = sys.platform != "win32"
    # SO_REUSEPORT on the claim listener, so several server processes share one port
    reuse_port: bool = False
    # Pin the business date (82/81 checks) for demos and tests; None: today in UTC.
    business_date: dt.date | None = None
    log_level: str = "INFO"
    # The admin interface listens only when at least one operator token is configured.
    admin_listen_address: str = DEFAULT_ADMIN_LISTEN
    admin_tokens: Mapping[str, str] = field(default_factory=dict)  # token → operator name
    # Where the admin interface's Settle and Invoice write their files (835, JSON, CSV).
    settlement_dir: Path = Path("settlement")
    # TLS on every listener (server certificate chain and key, PEM); with a client CA the claim
    # listener requires switch certificates (mTLS) and the switch table says what each may bill.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None
    switches_file: Path | None = None
    # Proxies in front that terminate the switches' mutual TLS (their own client certificates'
    # common names): their calls carry the switch's certificate in x-rx-switch-cert (deploy/).
    trusted_fronts: frozenset[str] = frozenset()
    # Plaintext listeners are refused unless development mode is explicit, and development
    # mode listens on loopback only.
    dev_mode: bool = False
    # The reference snapshot follows NOTIFY at once; this poll is the backstop (a lost LISTEN
    # connection is reopened, a missed notification is caught up).
    reference_poll_s: float = 5.0
    # Prometheus metrics on their own HTTP listener (HOST:PORT); None: no listener. Under
    # `serve --workers N` the parent listens and the workers write to metrics_multiprocess_dir
    # (PROMETHEUS_MULTIPROC_DIR, which the parent sets for them).
    metrics_listen_address: str | None = None
    metrics_multiprocess_dir: Path | None = None
    # OpenTelemetry traces (RX_GATEWAY_OTEL=1, needs the otel extra), exported as
    # OTEL_TRACES_EXPORTER says: otlp (the default), console or none.
    otel_enabled: bool = False
    otel_traces_exporter: str = "otlp"
    # Natural batching (plain PostgreSQL only; on Citus each claim goes alone): claims in
    # flight together share one member read and one ledger write (README, Performance).
    batching: bool = True

    def security_problem(self) -> str | None:
        """Why this configuration is not fit for production, or None."""
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            return "set both RX_GATEWAY_TLS_CERT_FILE and RX_GATEWAY_TLS_KEY_FILE"
        if (self.tls_client_ca_file is None) != (self.switches_file is None):
            return (
                "mutual TLS needs both RX_GATEWAY_TLS_CLIENT_CA_FILE and RX_GATEWAY_SWITCHES_FILE"
            )
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            return "a client CA needs the server certificate (RX_GATEWAY_TLS_CERT_FILE)"
        if self.trusted_fronts and self.tls_client_ca_file is None:
            return (
                "RX_GATEWAY_TRUSTED_FRONTS names fronts by their client certificates: it needs"
                " mutual TLS (RX_GATEWAY_TLS_CLIENT_CA_FILE and RX_GATEWAY_SWITCHES_FILE)"
            )
        if self.dev_mode:
            if self.tls_cert_file is None:
                for name, address in (
                    ("RX_GATEWAY_LISTEN", self.listen_address),
                    ("RX_GATEWAY_ADMIN_LISTEN", self.admin_listen_address),
                    ("RX_GATEWAY_METRICS_LISTEN", self.metrics_listen_address),
                ):
                    if address is not None and not is_loopback(address):
                        return (
                            f"development mode listens on loopback only: {name}={address} needs"
                            " TLS (RX_GATEWAY_TLS_CERT_FILE and RX_GATEWAY_TLS_KEY_FILE), or use"
                            " 127.0.0.1"
                        )
            return None
        if self.tls_cert_file is None:
            return (
                "refusing plaintext listeners: set RX_GATEWAY_TLS_CERT_FILE and"
                " RX_GATEWAY_TLS_KEY_FILE, or RX_GATEWAY_DEV_MODE=1 for development"
            )
        if self.tls_client_ca_file is None:
            return (
                "refusing a claim listener without client certificates: set"
                " RX_GATEWAY_TLS_CLIENT_CA_FILE and RX_GATEWAY_SWITCHES_FILE"
            )
        return None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        """Read RX_GATEWAY_* variables; fail fast naming the variable on a bad value."""

        def number(
            name: str,
            default: float,
            kind: type[int] | type[float] = int,
            minimum: float | None = None,
        ) -> float:
            raw = environ.get(name)
            if raw is None or raw == "":
                return default
            wanted = (
                f"a whole number from 1 to {NUMBER_MAX}"
                if kind is int
                else f"a number greater than 0, at most {NUMBER_MAX}"
            )
            try:
                value = kind(raw)
            except ValueError:
                raise InvalidRequest(name, f"must be {wanted}, got {raw!r}") from None
            if value > NUMBER_MAX or not math.isfinite(value) or value <= 0:
                raise InvalidRequest(name, f"must be {wanted}, got {raw!r}")
            if minimum is not None and value < minimum:
                raise InvalidRequest(name, f"must be at least {minimum:g}, got {raw!r}")
            return value

        defaults = cls()
        pool = PoolLimits(
            size_min=int(number("RX_GATEWAY_DB_POOL_SIZE_MIN", defaults.pool.size_min)),
            size_max=int(number("RX_GATEWAY_DB_POOL_SIZE_MAX", defaults.pool.size_max)),
            acquire_timeout_s=number(
                "RX_GATEWAY_DB_ACQUIRE_TIMEOUT_S", defaults.pool.acquire_timeout_s, float
            ),
            command_timeout_s=number(
                "RX_GATEWAY_DB_COMMAND_TIMEOUT_S", defaults.pool.command_timeout_s, float
            ),
            statement_timeout_ms=int(
                number("RX_GATEWAY_DB_STATEMENT_TIMEOUT_MS", defaults.pool.statement_timeout_ms)
            ),
            role=_role(environ, "RX_GATEWAY_DB_ROLE", APPLICATION_ROLE),
        )
        if pool.size_min > pool.size_max:
            raise InvalidRequest(
                "RX_GATEWAY_DB_POOL_SIZE_MIN",
                f"{pool.size_min} must not exceed RX_GATEWAY_DB_POOL_SIZE_MAX ({pool.size_max})",
            )
        return replace(
            defaults,
            database_url=_database_url(environ, "RX_GATEWAY_DATABASE_URL"),
            data_dir=Path(environ.get("RX_GATEWAY_DATA_DIR") or defaults.data_dir),
            listen_address=environ.get("RX_GATEWAY_LISTEN") or defaults.listen_address,
            pool=pool,
            grpc_concurrent_rpcs_max=int(
                number("RX_GATEWAY_GRPC_CONCURRENT_RPCS_MAX", defaults.grpc_concurrent_rpcs_max)
            ),
            grpc_streams_per_connection_max=int(
                number(
                    "RX_GATEWAY_GRPC_STREAMS_PER_CONNECTION_MAX",
                    defaults.grpc_streams_per_connection_max,
                )
            ),
            grpc_connection_age_s=_connection_age(
                number(
                    "RX_GATEWAY_GRPC_CONNECTION_AGE_S",
                    defaults.grpc_connection_age_s,
                    float,
                    minimum=CONNECTION_AGE_S_MIN,
                )
            ),
            database_start_timeout_s=number(
                "RX_GATEWAY_DATABASE_START_TIMEOUT_S", defaults.database_start_timeout_s, float
            ),
            shutdown_grace_s=number(
                "RX_GATEWAY_SHUTDOWN_GRACE_S", defaults.shutdown_grace_s, float
            ),
            use_uvloop=_flag(environ, "RX_GATEWAY_UVLOOP", default=defaults.use_uvloop),
            reuse_port=_flag(environ, "RX_GATEWAY_REUSE_PORT", default=False),
            business_date=_date_or_none(environ, "RX_GATEWAY_BUSINESS_DATE"),
            log_level=_log_level(environ, "RX_GATEWAY_LOG_LEVEL", defaults.log_level),
            admin_listen_address=environ.get("RX_GATEWAY_ADMIN_LISTEN")
            or defaults.admin_listen_address,
            admin_tokens=_admin_tokens(environ.get("RX_GATEWAY_ADMIN_TOKENS", "")),
            settlement_dir=Path(
                environ.get("RX_GATEWAY_SETTLEMENT_DIR") or defaults.settlement_dir
            ),
            tls_cert_file=_path_or_none(environ, "RX_GATEWAY_TLS_CERT_FILE"),
            tls_key_file=_path_or_none(environ, "RX_GATEWAY_TLS_KEY_FILE"),
            tls_client_ca_file=_path_or_none(environ, "RX_GATEWAY_TLS_CLIENT_CA_FILE"),
            switches_file=_path_or_none(environ, "RX_GATEWAY_SWITCHES_FILE"),
            trusted_fronts=_fronts(environ.get("RX_GATEWAY_TRUSTED_FRONTS", "")),
            dev_mode=_flag(environ, "RX_GATEWAY_DEV_MODE", default=False),
            admin_db_role=_role(environ, "RX_GATEWAY_ADMIN_DB_ROLE", ADMIN_ROLE),
            reference_poll_s=number(
                "RX_GATEWAY_REFERENCE_POLL_S",
                defaults.reference_poll_s,
                float,
                minimum=REFERENCE_POLL_S_MIN,
            ),
            metrics_listen_address=_listen_or_none(environ, "RX_GATEWAY_METRICS_LISTEN"),
            metrics_multiprocess_dir=_directory_or_none(environ, "PROMETHEUS_MULTIPROC_DIR"),
            otel_enabled=_otel_enabled(environ),
            otel_traces_exporter=_otel_exporter(environ),
            batching=_flag(environ, "RX_GATEWAY_BATCHING", default=True),
            conflict_retry=replace(
                defaults.conflict_retry,
                attempts_max=int(
                    number("RX_GATEWAY_CONFLICT_ATTEMPTS_MAX", defaults.conflict_retry.attempts_max)
                ),
            ),
        )


FLAG_TRUE = frozenset({"1", "true", "yes", "on"})
FLAG_FALSE = frozenset({"0", "false", "no", "off"})
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_LEVEL_ALIASES = {"WARN": "WARNING", "FATAL": "CRITICAL", "NOTSET": "DEBUG"}  # logging's own
# Past any count or duration these settings mean; compared before math.isfinite, which
# raises OverflowError for an integer of 309 digits or more
NUMBER_MAX = 10**9
# The reference version is polled (besides NOTIFY) at most this often: a smaller period made an
# idle gateway poll PostgreSQL in a busy loop (half a core)
REFERENCE_POLL_S_MIN = 0.1
CONNECTION_AGE_S_MIN = 1.0  # a connection closed sooner would cut calls in flight often
CONNECTION_AGE_S_MAX = (2**31 - 1) // 1000  # grpc takes the age in milliseconds, in 32 bits


def _connection_age(seconds: float) -> float:
    if seconds > CONNECTION_AGE_S_MAX:  # grpc's OverflowError at start-up, a traceback
        raise InvalidRequest(
            "RX_GATEWAY_GRPC_CONNECTION_AGE_S",
            f"must be at most {CONNECTION_AGE_S_MAX} (about 24 days: grpc counts it in"
            " milliseconds, in 32 bits)",
        )
    return seconds


def _flag(environ: Mapping[str, str], name: str, *, default: bool) -> bool:
    """An on/off variable: 1/true/yes/on or 0/false/no/off (any case); unset or empty is
    the default; anything else names the variable (a typo would otherwise silently mean off)."""
    raw = environ.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in FLAG_TRUE:
        return True
    if raw in FLAG_FALSE:
        return False
    raise InvalidRequest(name, f"must be 1 or 0 (true/false, yes/no, on/off), got {raw!r}")


def _log_level(environ: Mapping[str, str], name: str, default: str) -> str:
    raw = environ.get(name, "").strip().upper() or default
    raw = LOG_LEVEL_ALIASES.get(raw, raw)
    if raw not in LOG_LEVELS:
        raise InvalidRequest(name, f"must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return raw


def _role(environ: Mapping[str, str], name: str, default: str) -> str | None:
    """A role to SET on every pooled connection; ``none`` keeps the login's own."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    return None if raw.lower() == "none" else raw


def _database_url(environ: Mapping[str, str], name: str) -> str | None:
    """A postgresql:// URL asyncpg reads as its author meant: hosts and ports that are
    numbers (a port that is none, or a broken IPv6 host, was an asyncpg ValueError traceback;
    a port past 65535 was dropped silently), and no unencoded @, / or ? in the password
    (asyncpg splits the user part at the first @, the path at the first /: the password's
    tail became a host, a port or the database, and messages then showed it). Several hosts
    (h1:5432,h2:5433) are taken, as asyncpg takes them. The message names what is wrong,
    never any of the URL's text (it may carry a password)."""
    raw = environ.get(name) or None
    if raw is None:
        return None
    wanted = "postgresql://USER:PASSWORD@HOST:PORT/DATABASE"

    def refuse(problem: str) -> NoReturn:
        raise InvalidRequest(name, f"not a database URL {wanted}: {problem}")

    try:
        parts = urlsplit(raw)
        query = parse_qs(parts.query, strict_parsing=True) if parts.query else {}
    except ValueError:
        refuse("a broken [IPv6] host or query (percent-encode @ / ? # in the password)")
    if parts.scheme not in ("postgresql", "postgres"):
        raise InvalidRequest(name, f"must be a postgresql:// URL ({wanted})")
    if "@" in parts.path or parts.path.count("/") > 1 or "@" in parts.query:
        refuse("an @ or / past the host: percent-encode them in the password (%40, %2F)")
    hosts = parts.netloc.partition("@")[2] if "@" in parts.netloc else parts.netloc
    if "@" in hosts:
        refuse("a second @: percent-encode the password's @ (%40)")
    ports = [
        (host.rpartition("]")[2] if host.startswith("[") else host).partition(":")[2]
        for host in (hosts.split(",") if hosts else ())
    ]
    if hosts and any(not host for host in hosts.split(",")):
        refuse("an empty host in the list of hosts")
    ports += [p for key in ("port",) for value in query.get(key, ()) for p in value.split(",")]
    for port in ports:
        if port and not (port.isascii() and port.isdigit() and int(port) <= PORT_MAX):
            refuse(f"a port must be a number of 0-{PORT_MAX} (percent-encode : in the password)")
    return raw


def _path_or_none(environ: Mapping[str, str], name: str) -> Path | None:
    raw = environ.get(name)
    if not raw:
        return None
    path = Path(raw)
    if not path.is_file():
        if path.is_dir():
            problem = "is a directory, not a file"
        elif path.exists():
            problem = "is not a regular file (a pipe or a device?)"
        else:
            problem = "no such file"
        raise InvalidRequest(name, f"{problem}: {raw}")
    return path


def _admin_tokens(raw: str) -> dict[str, str]:
    """``operator=token,operator2=token2`` → {token: operator}; tokens of 16+ characters."""
    tokens: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        operator, _, token = item.partition("=")
        if not operator or len(token) < ADMIN_TOKEN_LENGTH_MIN:
            raise InvalidRequest(
                "RX_GATEWAY_ADMIN_TOKENS",
                "each entry is operator=token, the token at least"
                f" {ADMIN_TOKEN_LENGTH_MIN} characters",
            )
        if tokens.get(token, operator) != operator:  # the audit would name the last of them
            raise InvalidRequest(
                "RX_GATEWAY_ADMIN_TOKENS",
                f"operators {tokens[token]!r} and {operator!r} share a token: each operator needs"
                " a token of their own (the audit names who made each change)",
            )
        tokens[token] = operator
    return tokens


def _fronts(raw: str) -> frozenset[str]:
    """``front-a,front-b``: certificate common names, each printable, none empty."""
    names = [part.strip() for part in raw.split(",")] if raw.strip() else []
    for name in names:
        if not name or not name.isprintable():
            raise InvalidRequest(
                "RX_GATEWAY_TRUSTED_FRONTS",
                "a comma-separated list of the fronts' certificate common names, none empty",
            )
    return frozenset(names)


def _date_or_none(environ: Mapping[str, str], name: str) -> dt.date | None:
    raw = environ.get(name)
    if not raw:
        return None
    problem = InvalidRequest(name, f"must be a date YYYY-MM-DD, got {raw!r}")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", raw):  # fromisoformat takes 20261123 too
        raise problem
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise problem from None


def _listen_or_none(environ: Mapping[str, str], name: str) -> str | None:
    """A HOST:PORT listen address (port 0-65535, 0: any free port), or None when unset."""
    raw = environ.get(name, "").strip()
    if not raw:
        return None
    split = split_listen_address(raw)
    if split is None or not split[0]:
        raise InvalidRequest(
            name,
            f"must be HOST:PORT with a port of 0-{PORT_MAX} (e.g. 127.0.0.1:9464), got {raw!r}",
        )
    return raw


def _directory_or_none(environ: Mapping[str, str], name: str) -> Path | None:
    raw = environ.get(name)
    if not raw:
        return None
    path = Path(raw)
    if not path.is_dir():
        raise InvalidRequest(name, f"no such directory: {raw}")
    return path


def _otel_enabled(environ: Mapping[str, str]) -> bool:
    """RX_GATEWAY_OTEL=1, checked here so a missing extra is one line before anything starts."""
    if not _flag(environ, "RX_GATEWAY_OTEL", default=False):
        return False
    for module in OTEL_MODULES:
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if not found:
            raise InvalidRequest(
                "RX_GATEWAY_OTEL",
                "needs the otel extra: pip install 'rx-gateway[otel]'"
                " (from a checkout: pip install -e '.[otel]')",
            )
    return True


def _otel_exporter(environ: Mapping[str, str]) -> str:
    raw = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() or "otlp"
    if raw not in OTEL_EXPORTERS:
        raise InvalidRequest(
            "OTEL_TRACES_EXPORTER", f"must be one of {', '.join(OTEL_EXPORTERS)}, got {raw!r}"
        )
    return raw
