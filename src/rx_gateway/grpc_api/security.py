"""Transport security and who may bill what.

* Every listener speaks TLS when a server certificate is configured. The claim listener then
  also requires a client certificate signed by the configured switch CA (mutual TLS): the
  certificate's common name identifies the pharmacy switch.
* The switch table (a JSON file) says which BIN/PCN pairs each switch may bill. A claim for a
  pair the switch may not bill is PERMISSION_DENIED; a certificate naming an unknown switch is
  PERMISSION_DENIED for every call.
* A trusted front (a proxy such as HAProxy that terminates the switches' mutual TLS, named by
  its own client certificate in RX_GATEWAY_TRUSTED_FRONTS) passes on the switch certificate it
  verified, in the ``x-rx-switch-cert`` header (DER, base64). Only a front's calls are read
  that way: anyone else's header is ignored, and a front's call without one is refused. The
  switch is that certificate's common name, read as a direct connection's is (one decoder: a
  name the front passed as its raw bytes let a BMPString certificate bill as another switch).
* Plaintext is for development only: start-up refuses it unless development mode is explicit.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import json
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from grpc import aio

from rx_gateway.addresses import PORT_MAX, bind_problem, split_listen_address
from rx_gateway.domain.errors import InvalidRequest, PermissionDenied, Unauthenticated
from rx_gateway.domain.values import is_digits
from rx_gateway.jsontext import parse_json

ANY_PCN = "*"
# set by a trusted front: the switch certificate it verified (DER, base64)
SWITCH_CERT_HEADER = "x-rx-switch-cert"

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SwitchTable:
    """Switch name (client certificate common name) → the BIN/PCN pairs it may bill; and the
    trusted fronts (their certificates' common names), whose calls name their switch."""

    allowed: Mapping[str, frozenset[tuple[str, str]]]
    fronts: frozenset[str] = frozenset()

    @classmethod
    def from_file(cls, path: Path, fronts: frozenset[str] = frozenset()) -> SwitchTable:
        """``{"switch-name": ["610999/RXGCOMM", "610888/*"], ...}``; ``*`` allows any PCN. A
        front may not also be a switch (its own calls would bill under its name)."""
        variable = "RX_GATEWAY_SWITCHES_FILE"
        try:
            text = path.read_text()
            document = parse_json(text)
        except (OSError, ValueError) as error:
            raise InvalidRequest(variable, f"{path}: cannot read: {error}") from error
        if not isinstance(document, dict) or not document:
            msg = f'{path}: must be a JSON object of switches, {{"switch": ["BIN/PCN", ...]}}'
            raise InvalidRequest(variable, msg)
        named: list[str] = []
        json.loads(text, object_pairs_hook=lambda pairs: named.extend(k for k, _ in pairs))
        twice = next((n for n in named if named.count(n) > 1), None)
        if twice is not None:  # the last entry silently won: the first lost its BIN/PCNs
            raise InvalidRequest(variable, f"{path}: switch {twice!r} is named twice")
        allowed = {}
        for name, pairs in document.items():
            problem = _switch_problem(name, pairs)
            if problem is not None:
                raise InvalidRequest(variable, f"{path}: switch {name!r}: {problem}")
            allowed[name] = frozenset((p.split("/")[0], p.split("/")[1]) for p in pairs)
        both = sorted(fronts & allowed.keys())
        if both:
            msg = f"{both[0]!r} is also a switch in {path}: a front's certificate bills nothing"
            raise InvalidRequest("RX_GATEWAY_TRUSTED_FRONTS", msg)
        return cls(allowed, fronts)

    def switch_of(self, context: aio.ServicerContext[Any, Any]) -> str | None:
        """The switch a call comes from: its verified client certificate's common name, or,
        from a trusted front, the common name of the one certificate its x-rx-switch-cert
        header carries."""
        peer = peer_switch(context)
        if peer is None or peer not in self.fronts:
            return peer
        sent = [
            value
            for key, value in context.invocation_metadata() or ()
            if key == SWITCH_CERT_HEADER and isinstance(value, str)
        ]
        switch = _forwarded_switch(sent[0]) if len(sent) == 1 else None
        if switch is None:
            msg = (
                f"the front {peer!r} must pass the switch's certificate (DER, base64) in one"
                f" {SWITCH_CERT_HEADER} header, one whose common name can be read"
            )
            raise Unauthenticated(msg)
        return switch

    def check(self, switch: str | None, bin: str, pcn: str) -> None:
        """Raise unless this switch may bill this BIN/PCN."""
        if switch is None:
            raise Unauthenticated("a client certificate is required")
        pairs = self.allowed.get(switch)
        if pairs is None:
            raise PermissionDenied(f"switch {switch!r} is not configured")
        if (bin, pcn) not in pairs and (bin, ANY_PCN) not in pairs:
            raise PermissionDenied(f"switch {switch!r} may not bill BIN/PCN {bin}/{pcn}")

    def check_known(self, switch: str | None) -> None:
        """For calls that carry no BIN/PCN (benefit inquiry): any configured switch."""
        if switch is None:
            raise Unauthenticated("a client certificate is required")
        if switch not in self.allowed:
            raise PermissionDenied(f"switch {switch!r} is not configured")


PCN_LENGTH_MAX = 10  # 104-A4 x(10)


def _switch_problem(name: str, pairs: Any) -> str | None:
    """Why one switch's entry cannot be used, or None. The name is its certificate's common
    name (an empty one would authorize any certificate without one); each pair is a BIN of six
    digits and a PCN (or * for any PCN of the BIN) as a claim sends them, unpadded."""
    if not name or name != name.strip() or not name.isprintable():
        return "the name must be a certificate's common name (printable, no surrounding spaces)"
    if not isinstance(pairs, list) or not pairs:
        return "must list at least one 'BIN/PCN'"
    for pair in pairs:
        if not isinstance(pair, str) or pair.count("/") != 1:
            return f"{pair!r} is not 'BIN/PCN'"
        bin_, pcn = pair.split("/")
        if len(bin_) != 6 or not is_digits(bin_):
            return f"{pair!r}: the BIN (101-A1) is six digits"
        if not pcn or pcn != pcn.strip() or len(pcn) > PCN_LENGTH_MAX or not pcn.isprintable():
            return f"{pair!r}: the PCN (104-A4) is 1-{PCN_LENGTH_MAX} characters, unpadded, or *"
    return None


def peer_switch(context: aio.ServicerContext[Any, Any]) -> str | None:
    """The common name of the verified client certificate, if any: read from the certificate
    itself (grpc's x509_common_name ended a name at a NUL, so "switch-a\\x00evil" was
    switch-a), with the decoder a front's forwarded certificate is read with. A certificate
    that decoder cannot read (a PrintableString with an underscore, which OpenSSL accepts) is
    named by grpc's x509_common_name, unless that holds a NUL (then: no name)."""
    properties = context.auth_context()
    certificates = list(properties.get("x509_pem_cert") or [])
    if not certificates:
        return None
    name = _pem_common_name(certificates[0])
    if name is not None:
        return name
    names = list(properties.get("x509_common_name") or [])
    grpcs = names[0].decode(errors="replace") if names else None
    return grpcs if grpcs and "\x00" not in grpcs else None


@functools.lru_cache(maxsize=1024)
def _pem_common_name(pem: bytes) -> str | None:
    from cryptography import x509  # noqa: PLC0415 - only with mutual TLS

    try:
        return _common_name(x509.load_pem_x509_certificate(pem))
    except Exception:  # any certificate it cannot read names nobody here
        return None


@functools.lru_cache(maxsize=1024)
def _forwarded_switch(encoded: str) -> str | None:
    """The common name of the certificate a front forwarded, or None: not base64 DER, or a
    certificate `cryptography` cannot read (refused, UNAUTHENTICATED)."""
    from cryptography import x509  # noqa: PLC0415 - only with trusted fronts

    try:
        der = base64.b64decode(encoded, validate=True)
        return _common_name(x509.load_der_x509_certificate(der))
    except Exception:  # binascii.Error, ValueError, InvalidVersion, ...
        return None


def _common_name(certificate: Any) -> str | None:
    """The first common name of a certificate's subject, as text (None: it has none)."""
    from cryptography.x509.oid import NameOID  # noqa: PLC0415

    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    value = names[0].value if names else None
    return value if isinstance(value, str) else None


@dataclass(frozen=True, slots=True)
class TlsFiles:
    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None

    def check(self) -> None:
        """The certificate and its key (and the client CA) are what a TLS library takes: one
        error naming the setting otherwise (grpc would only fail to bind the port, naming
        neither). An encrypted key is refused too: grpc cannot use one."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        # whether the files can be used, not how strong they are (grpc takes a 1024-bit RSA
        # key or a SHA-1 chain that Python's default security level refuses)
        context.set_ciphers("ALL:@SECLEVEL=0")
        try:
            context.load_cert_chain(self.cert_file, self.key_file, password=b"")
        except (ssl.SSLError, OSError, ValueError) as error:
            raise InvalidRequest(
                "RX_GATEWAY_TLS_CERT_FILE and RX_GATEWAY_TLS_KEY_FILE",
                f"not a PEM certificate and its unencrypted private key ({_reason(error)})",
            ) from None
        if self.client_ca_file is not None:
            try:
                context.load_verify_locations(cafile=self.client_ca_file)
            except (ssl.SSLError, OSError, ValueError) as error:
                raise InvalidRequest(
                    "RX_GATEWAY_TLS_CLIENT_CA_FILE",
                    f"not a PEM CA certificate ({_reason(error)})",
                ) from None
        self._check_dates_and_roles()

    def _check_dates_and_roles(self, now: dt.datetime | None = None) -> None:
        """The TLS library loads an expired (or not yet valid) certificate, and a leaf where a
        CA belongs, without a word; every client's handshake then fails. Refused at start-up
        naming the setting: the server's certificate must be valid now (a few minutes of clock
        skew allowed; the rest of its chain file is logged when not); of the client CAs, at
        least one must be valid now and able to sign a switch's certificate (a CA, or a
        self-signed certificate pinned as its own anchor). Client CAs that are not (one
        expired during a rotation) are logged."""
        from cryptography import x509  # noqa: PLC0415 - only when TLS is configured

        moment = now or dt.datetime.now(dt.UTC)
        try:  # the TLS library took the files; one it reads and this parser does not is its
            chain = x509.load_pem_x509_certificates(self.cert_file.read_bytes())
            cas = (
                x509.load_pem_x509_certificates(self.client_ca_file.read_bytes())
                if self.client_ca_file is not None
                else []
            )
        except ValueError:
            return
        # the server's own certificate must be valid; the rest of the chain file is what
        # clients may use to reach an anchor, and they stop at the first one they trust (a
        # full chain still carrying an expired cross-sign works): logged, not refused
        for number, certificate in enumerate(chain, start=1):
            problem = _validity_problem(certificate, moment)
            if problem is not None and number == 1:
                raise InvalidRequest("RX_GATEWAY_TLS_CERT_FILE", f"the certificate {problem}")
            if problem is not None:
                log.warning(
                    "a certificate of the server's chain is not valid now; clients that trust"
                    " another one reach their anchor without it",
                    extra={"certificate": number, "problem": problem},
                )
        unusable = [
            (number, problem)
            for number, ca in enumerate(cas, start=1)
            if (problem := _validity_problem(ca, moment) or _not_an_anchor(ca)) is not None
        ]
        if cas and len(unusable) == len(cas):
            number, problem = unusable[0]
            raise InvalidRequest(
                "RX_GATEWAY_TLS_CLIENT_CA_FILE",
                f"certificate {number} in it {problem}"
                + ("" if len(cas) == 1 else f" (and none of its {len(cas)} can be used)"),
            )
        for number, problem in unusable:
            log.warning(
                "a client CA certificate cannot verify switches; the others are used",
                extra={"certificate": number, "problem": problem},
            )

    def server_credentials(self, *, require_client_certificate: bool) -> grpc.ServerCredentials:
        self.check()
        ca = self.client_ca_file.read_bytes() if self.client_ca_file else None
        return grpc.ssl_server_credentials(
            [(self.key_file.read_bytes(), self.cert_file.read_bytes())],
            root_certificates=ca if require_client_certificate else None,
            require_client_auth=require_client_certificate,
        )


CLOCK_SKEW = dt.timedelta(minutes=5)  # a certificate issued moments ago on a faster clock


def _validity_problem(certificate: Any, now: dt.datetime) -> str | None:
    """Why ``certificate`` is not valid at ``now`` (one line, its subject never), or None."""
    if now > certificate.not_valid_after_utc:
        return (
            f"expired on {certificate.not_valid_after_utc:%Y-%m-%d %H:%M} UTC: renew it"
            " (every client's handshake would fail)"
        )
    if now + CLOCK_SKEW < certificate.not_valid_before_utc:
        return (
            f"is not valid before {certificate.not_valid_before_utc:%Y-%m-%d %H:%M} UTC:"
            " check this machine's clock or the certificate's dates"
        )
    return None


def _not_an_anchor(certificate: Any) -> str | None:
    """Why ``certificate`` cannot verify a client's certificate, or None: a CA (basic
    constraints CA true) can; so can a self-signed certificate (a client pinned by its own
    certificate); a leaf issued by someone else cannot."""
    from cryptography import x509  # noqa: PLC0415

    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        constraints = None
    if constraints is not None and constraints.value.ca:
        return None
    if certificate.issuer == certificate.subject:
        return None
    return (
        "is not a CA certificate (an end entity's, issued by another): give the CA that"
        " signs the switches' certificates"
    )


def _reason(error: Exception) -> str:
    """What is wrong with a TLS file, in a few words (never its contents)."""
    if isinstance(error, ssl.SSLError):
        detail = str(error.reason).replace("_", " ").lower() if error.reason else ""
        return "the TLS library cannot read it" + (f": {detail}" if detail else "")
    if isinstance(error, FileNotFoundError):
        return "no such file"
    if isinstance(error, PermissionError):
        return "permission denied"
    return type(error).__name__


def client_credentials(
    ca_file: Path, cert_file: Path | None = None, key_file: Path | None = None
) -> grpc.ChannelCredentials:
    """TLS for a client: the CA that signed the gateway's certificate, and (for a switch) its
    own certificate and key."""
    return grpc.ssl_channel_credentials(
        root_certificates=ca_file.read_bytes(),
        private_key=key_file.read_bytes() if key_file else None,
        certificate_chain=cert_file.read_bytes() if cert_file else None,
    )


def port_problem(host: str, port: int, *, shared: bool = False) -> str | None:
    """Why a listener cannot bind ``host:port``, or None, tried with a plain socket as grpc
    binds (SO_REUSEADDR; SO_REUSEPORT only when ``shared``: a worker joining its siblings).
    A socket without SO_REUSEPORT cannot bind a port that listeners with it hold, so an
    unshared probe also finds another `serve --workers` (which a shared one would join)."""
    import errno  # noqa: PLC0415 - only for this check
    import socket  # noqa: PLC0415

    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as error:
        return f"host {host!r} does not resolve ({error})"
    problems = []
    bound = False
    for family, kind, proto, _, sockaddr in found:
        try:
            # created, set and bound as grpc binds (a wildcard :: is dual-stack, so an IPv4
            # holder of the port is seen); an address family the host lacks is unusable
            with socket.socket(family, kind, proto) as probe:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                if shared and hasattr(socket, "SO_REUSEPORT"):
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                probe.bind(sockaddr)
        except OSError as error:
            problems.append(error)
            # unshared, an address another listener holds is refused even when another
            # resolved address is free ("localhost": ::1 free, 127.0.0.1 held by another
            # gateway's workers, which ours would join there)
            if not shared and error.errno == errno.EADDRINUSE:
                break
        else:
            bound = True  # grpc binds what it can of the resolved addresses
    held = any(e.errno == errno.EADDRINUSE for e in problems)
    if bound and (shared or not held):
        return None
    first = next((e for e in problems if e.errno == errno.EADDRINUSE), problems[0])
    return bind_problem(first, host, port)


def listen(
    server: aio.Server,
    address: str,
    credentials: grpc.ServerCredentials | None,
    *,
    shared: bool = False,
) -> int:
    """Bind a listener, with TLS when credentials are given; the bound port.

    An address that cannot be bound raises InvalidRequest(address, why): a malformed one, a
    host that does not resolve, a port in use (port_problem; ``shared``: a `--workers`
    worker, which binds beside its siblings). grpc itself only says "Failed to bind", and
    logs it on stderr."""
    if not address.startswith(("unix:", "unix-abstract:")):
        split = split_listen_address(address)
        if split is None:
            raise InvalidRequest(address, f"not HOST:PORT with a port of 0-{PORT_MAX}")
        host, port = split
        if not host:
            raise InvalidRequest(address, "names no host (127.0.0.1: this machine only)")
        problem = port_problem(host, port, shared=shared)
        if problem is not None:
            raise InvalidRequest(address, problem)
    try:
        port = (
            server.add_secure_port(address, credentials)
            if credentials is not None
            else server.add_insecure_port(address)
        )
    except RuntimeError:  # grpc: "Failed to bind to address ..."
        port = 0
    if port == 0:
        raise InvalidRequest(address, "cannot be bound (GRPC_VERBOSITY=debug shows grpc's reason)")
    return port
