"""No string in a claim request is longer than any NCPDP field (translate._check_lengths): the
answer is INVALID_ARGUMENT naming the field, wherever the string is (a segment's field, a
repeated segment's, a repeated string, a segment inside a segment), and a string of exactly the
longest length passes."""

from __future__ import annotations

import pytest

from rx_gateway.domain.errors import InvalidRequest
from rx_gateway.grpc_api import translate
from rx_gateway.grpc_api.translate import REQUEST_STRING_LENGTH_MAX
from rx_gateway.v1 import claims_pb2 as pb

TOO_LONG = "9" * (REQUEST_STRING_LENGTH_MAX + 1)


def _request() -> pb.ClaimRequest:
    """The required segments present (empty): the length check runs before any other."""
    request = pb.ClaimRequest()
    for segment in (request.header, request.insurance, request.claim, request.pricing):
        segment.SetInParent()
    return request


def _field_refused(request: pb.ClaimRequest) -> str:
    with pytest.raises(InvalidRequest) as refused:
        translate.claim_request_from_pb(request)
    assert f"longer than {REQUEST_STRING_LENGTH_MAX} characters" in refused.value.problem
    return refused.value.field


def test_a_segments_field() -> None:
    request = _request()
    request.header.bin = TOO_LONG
    assert _field_refused(request) == "header.bin"


def test_a_repeated_segments_repeated_string() -> None:
    request = _request()
    request.other_payments.add(reject_codes=["70", TOO_LONG])
    assert _field_refused(request) == "other_payments.reject_codes"


def test_a_segment_inside_a_segment() -> None:
    request = _request()
    request.compound.ingredients.add().product_id = TOO_LONG
    assert _field_refused(request) == "compound.ingredients.product_id"


def test_the_longest_string_passes_the_length_check() -> None:
    request = _request()
    request.header.bin = "9" * REQUEST_STRING_LENGTH_MAX
    request.other_payments.add(reject_codes=["9" * REQUEST_STRING_LENGTH_MAX])
    try:
        translate.claim_request_from_pb(request)
    except InvalidRequest as error:  # refused later, for what the empty segments lack
        assert "characters" not in error.problem
