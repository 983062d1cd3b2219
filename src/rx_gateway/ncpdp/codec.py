"""NCPDP Telecommunication Standard vD.0 framing: pure, standard library only.

A request transmission is a 56-byte fixed header followed by segments; a response is a 31-byte
header followed by segments (shared/reference/ncpdp-d0.md sections 1.2-1.3, 2.1). A segment is
RS (0x1E), FS (0x1C), ``AM`` + a two-character segment ID, then FS-separated fields, each a
two-character field ID and its value. Segments before the first GS (0x1D) belong to the
transmission; each GS opens the next transaction. An STX/ETX wrapping is accepted and removed.

Decoding keeps every field and segment in order, unknown ones included, so
``encode(decode(x)) == x`` for any well-formed transmission. Values stay text here; the typed
helpers below convert money (signed overpunch, two implied decimals) and quantities (three
implied decimals) to integers and back, never through floats.
"""

from __future__ import annotations

from dataclasses import dataclass, field

FS, GS, RS = "\x1c", "\x1d", "\x1e"
STX, ETX = "\x02", "\x03"
VERSION = "D0"
TRANSACTIONS_MAX = 4


class CodecError(ValueError):
    """A transmission that cannot be read. ``reject`` is the NCPDP code to answer with."""

    def __init__(self, reject: str, message: str) -> None:
        super().__init__(message)
        self.reject = reject
        self.message = message


@dataclass(frozen=True, slots=True)
class Segment:
    segment_id: str  # 111-AM, e.g. "07"
    fields: tuple[tuple[str, str], ...] = ()  # (field ID, raw value), in wire order

    def get(self, field_id: str, default: str = "") -> str:
        """The first value of a field (most fields occur once)."""
        return next((value for fid, value in self.fields if fid == field_id), default)

    def all(self, field_id: str) -> list[str]:
        """Every value of a repeating field, in order (511-FB, 526-FQ, 393-MV ...)."""
        return [value for fid, value in self.fields if fid == field_id]


@dataclass(frozen=True, slots=True)
class RequestHeader:
    bin: str  # 101-A1
    version: str  # 102-A2
    transaction_code: str  # 103-A3
    processor_control_number: str  # 104-A4 (trailing spaces removed)
    transaction_count: str  # 109-A9 (text: a non-digit is a decoding result, not a crash)
    service_provider_id_qualifier: str  # 202-B2
    service_provider_id: str  # 201-B1
    date_of_service: str  # 401-D1
    software_vendor_id: str  # 110-AK


@dataclass(frozen=True, slots=True)
class ResponseHeader:
    version: str  # 102-A2
    transaction_code: str  # 103-A3
    transaction_count: str  # 109-A9
    header_response_status: str  # 501-F1: A accepted, R rejected
    service_provider_id_qualifier: str  # 202-B2
    service_provider_id: str  # 201-B1
    date_of_service: str  # 401-D1


@dataclass(frozen=True, slots=True)
class Transmission:
    """A request (``header`` a RequestHeader) or a response (a ResponseHeader)."""

    header: RequestHeader | ResponseHeader
    segments: tuple[Segment, ...] = ()  # transmission level
    transactions: tuple[tuple[Segment, ...], ...] = field(default=())

    def segment(self, segment_id: str, transaction: int | None = None) -> Segment | None:
        """A segment of a transaction, falling back to the transmission level."""
        groups = (
            [self.transactions[transaction]]
            if transaction is not None and 0 <= transaction < len(self.transactions)
            else []
        )
        for group in (*groups, self.segments):
            for segment in group:
                if segment.segment_id == segment_id:
                    return segment
        return None


# ------------------------------------------------------------------ fixed-width headers

_REQUEST_LAYOUT = (  # (attribute, width): 56 bytes
    ("bin", 6),
    ("version", 2),
    ("transaction_code", 2),
    ("processor_control_number", 10),
    ("transaction_count", 1),
    ("service_provider_id_qualifier", 2),
    ("service_provider_id", 15),
    ("date_of_service", 8),
    ("software_vendor_id", 10),
)
_RESPONSE_LAYOUT = (  # 31 bytes
    ("version", 2),
    ("transaction_code", 2),
    ("transaction_count", 1),
    ("header_response_status", 1),
    ("service_provider_id_qualifier", 2),
    ("service_provider_id", 15),
    ("date_of_service", 8),
)


def _split_fixed(text: str, layout: tuple[tuple[str, int], ...]) -> dict[str, str]:
    values, position = {}, 0
    for name, width in layout:
        values[name] = text[position : position + width].rstrip(" ")
        position += width
    return values


def _join_fixed(values: dict[str, str], layout: tuple[tuple[str, int], ...]) -> str:
    parts = []
    for name, width in layout:
        value = values[name]
        if not value.isascii():
            msg = f"{name} is not ASCII: {value!r}"
            raise CodecError("R8", msg)
        if len(value) > width:
            msg = f"{name} is longer than {width} characters: {value!r}"
            raise CodecError("R8", msg)
        parts.append(value.ljust(width))
    return "".join(parts)


# ------------------------------------------------------------------ segments


def _decode_segments(body: str) -> tuple[tuple[Segment, ...], tuple[tuple[Segment, ...], ...]]:
    groups = body.split(GS)
    parsed = [_decode_group(group) for group in groups]
    return parsed[0], tuple(parsed[1:])


def _decode_group(group: str) -> tuple[Segment, ...]:
    segments = []
    for chunk in group.split(RS):
        if not chunk:
            continue
        parts = chunk.split(FS)
        if parts[0] != "" or len(parts) < 2 or not parts[1].startswith("AM") or len(parts[1]) != 4:
            msg = f"a segment must start with FS and AMnn, got {chunk[:12]!r}"
            raise CodecError("R8", msg)
        fields = []
        for part in parts[2:]:
            if part == "":
                continue  # an empty field (a doubled or trailing FS) carries nothing
            if len(part) < 2:
                msg = f"segment {parts[1][2:]}: field {part!r} has no two-character ID"
                raise CodecError("R8", msg)
            fields.append((part[:2], part[2:]))
        segments.append(Segment(parts[1][2:], tuple(fields)))
    return tuple(segments)


def _encode_segment(segment: Segment) -> str:
    if not segment.segment_id.isascii():
        msg = f"segment ID {segment.segment_id!r} is not ASCII"
        raise CodecError("R8", msg)
    for field_id, value in segment.fields:
        if len(field_id) != 2 or any(c in value for c in (FS, GS, RS, STX, ETX)):
            msg = f"field {field_id!r} of segment {segment.segment_id} cannot be framed"
            raise CodecError("R8", msg)
        if not (field_id + value).isascii():
            msg = f"field {field_id!r} of segment {segment.segment_id} is not ASCII"
            raise CodecError("R8", msg)
    fields = "".join(f"{FS}{field_id}{value}" for field_id, value in segment.fields)
    return f"{RS}{FS}AM{segment.segment_id}{fields}"


def _unwrap(data: bytes) -> str:
    # Latin-1 reads every byte as one character, so a byte past ASCII stays in the field that
    # holds it: the request checks (requests.check_structure) then reject that field's
    # transaction alone, naming the field, and its neighbours are answered. Only a header that
    # is not ASCII refuses the whole transmission (_decode).
    text = data.decode("latin-1")
    if text.startswith(STX):
        text = text[1:]
    # A line ending after the transmission (from a file or a terminal) and ETX are framing.
    text = text.rstrip("\r\n")
    while text.endswith(ETX):
        text = text[:-1]
    return text


# ------------------------------------------------------------------ transmissions


def _decode(
    data: bytes,
    kind: type[RequestHeader] | type[ResponseHeader],
    layout: tuple[tuple[str, int], ...],
) -> Transmission:
    text = _unwrap(data)
    length = sum(width for _, width in layout)
    if len(text) < length:
        name = "request" if kind is RequestHeader else "response"
        msg = f"a {name} header is {length} bytes, got {len(text)}"
        raise CodecError("R8", msg)
    if not text[:length].isascii():
        at = next(k for k, c in enumerate(text[:length]) if not c.isascii())
        msg = f"the header is not ASCII at its byte {at}"
        raise CodecError("R8", msg)
    header = kind(**_split_fixed(text[:length], layout))
    segments, transactions = _decode_segments(text[length:])
    return Transmission(header, segments, transactions)


def decode_request(data: bytes) -> Transmission:
    return _decode(data, RequestHeader, _REQUEST_LAYOUT)


def decode_response(data: bytes) -> Transmission:
    return _decode(data, ResponseHeader, _RESPONSE_LAYOUT)


def decode(data: bytes) -> Transmission:
    """A request or a response, told apart by their headers (a response starts with 'D0')."""
    text = _unwrap(data)
    is_response = text[:2] == VERSION and not text[:6].isdigit()
    return decode_response(data) if is_response else decode_request(data)


def encode(transmission: Transmission) -> bytes:
    header = transmission.header
    layout = _REQUEST_LAYOUT if isinstance(header, RequestHeader) else _RESPONSE_LAYOUT
    values = {name: getattr(header, name) for name, _ in layout}
    text = _join_fixed(values, layout)
    text += "".join(_encode_segment(s) for s in transmission.segments)
    for group in transmission.transactions:
        text += GS + "".join(_encode_segment(s) for s in group)
    return text.encode("ascii")


# ------------------------------------------------------------------ typed values

_DIGITS = "0123456789"
_POSITIVE = "{ABCDEFGHI"
_NEGATIVE = "}JKLMNOPQR"


# No D.0 number is longer (amounts are s9(8)v99); a longer run is not a number to read (and
# past 4,300 digits Python's int() refuses it outright).
DIGITS_MAX = 19


def _is_digits(text: str) -> bool:
    """0-9 only (``str.isdigit`` also takes other scripts' digits, which ``int`` would read),
    at most DIGITS_MAX of them."""
    return len(text) <= DIGITS_MAX and text.isascii() and text.isdigit()


def decode_money(raw: str) -> int:
    """Signed overpunch with two implied decimals to integer cents: '650{' → 6500,
    '00035}' → -350, '00035J' → -351. Plain digits are positive cents."""
    text = raw.strip()
    if not text:
        msg = "an empty amount"
        raise CodecError("R8", msg)
    last = text[-1]
    if last in _POSITIVE:
        digits, sign, final = text[:-1], 1, _POSITIVE.index(last)
    elif last in _NEGATIVE:
        digits, sign, final = text[:-1], -1, _NEGATIVE.index(last)
    elif last in _DIGITS:
        digits, sign, final = text[:-1], 1, int(last)
    else:
        msg = f"not an overpunched amount: {raw!r}"
        raise CodecError("R8", msg)
    if digits and not _is_digits(digits):
        msg = f"not an overpunched amount: {raw!r}"
        raise CodecError("R8", msg)
    return sign * (int(digits or "0") * 10 + final)


def encode_money(cents: int) -> str:
    """Integer cents to signed overpunch: 6500 → '650{', -350 → '35}', 0 → '{'."""
    digits = str(abs(cents))
    table = _NEGATIVE if cents < 0 else _POSITIVE
    return digits[:-1] + table[int(digits[-1])]


def decode_quantity(raw: str) -> int:
    """Three implied decimals to thousandths: '30000' → 30000 (30.000 units)."""
    text = raw.strip()
    if not _is_digits(text):
        msg = f"not a quantity: {raw!r}"
        raise CodecError("R8", msg)
    return int(text)


def encode_quantity(thousandths: int) -> str:
    if thousandths < 0:
        msg = "a quantity cannot be negative"
        raise CodecError("R8", msg)
    return str(thousandths)


def decode_number(raw: str) -> int:
    text = raw.strip()
    if not (_is_digits(text) or (text.startswith("-") and _is_digits(text[1:]))):
        msg = f"not a number: {raw!r}"
        raise CodecError("R8", msg)
    return int(text)
