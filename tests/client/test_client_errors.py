"""from_rpc_error on aio and plain errors, and PlayerStatsError's text, repr and pickling."""

from __future__ import annotations

import pickle

import grpc
import grpc.aio
import pytest
from google.protobuf import any_pb2, duration_pb2, message
from google.rpc import error_details_pb2, status_pb2  # type: ignore[import-untyped,unused-ignore]
from grpc_status import rpc_status

from dbd_playerstats_client.errors import PlayerStatsError, from_rpc_error, translate_rpc_errors


def _aio_error(
    code: grpc.StatusCode, details: str, trailers: tuple[tuple[str, str | bytes], ...] = ()
) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata.from_tuple(trailers), details=details)


def _packed(*messages: message.Message) -> list[any_pb2.Any]:
    packed = []
    for item in messages:
        detail = any_pb2.Any()
        detail.Pack(item)
        packed.append(detail)
    return packed


def _trailers(code: grpc.StatusCode, message: str, details: list[any_pb2.Any]) -> tuple[tuple[str, bytes], ...]:
    status = status_pb2.Status(code=code.value[0], message=message, details=details)
    trailing: tuple[tuple[str, bytes], ...] = rpc_status.to_status(status).trailing_metadata
    return trailing


def test_aio_error_with_error_info_and_retry_info() -> None:
    """An AioRpcError's rich status gives reason, domain, metadata and a fractional retry_after."""
    details = _packed(
        error_details_pb2.ErrorInfo(
            reason="STEAM_KEY_REJECTED", domain="playerstats.dbd", metadata={"endpoint": "GetPlayerSummaries"}
        ),
        error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=1, nanos=250_000_000)),
    )
    err = from_rpc_error(
        _aio_error(
            grpc.StatusCode.UNAVAILABLE,
            "Steam refused the key",
            _trailers(grpc.StatusCode.UNAVAILABLE, "Steam refused the key", details),
        )
    )
    assert err.code is grpc.StatusCode.UNAVAILABLE
    assert (err.reason, err.domain) == ("STEAM_KEY_REJECTED", "playerstats.dbd")
    assert err.metadata == {"endpoint": "GetPlayerSummaries"}
    assert err.retry_after == 1.25


def test_unknown_detail_types_are_skipped() -> None:
    """Details of other types (here a DebugInfo) do not hide the ErrorInfo after them."""
    details = _packed(
        error_details_pb2.DebugInfo(detail="stack"),
        error_details_pb2.ErrorInfo(reason="INVALID_PLAYER", domain="playerstats.dbd"),
    )
    err = from_rpc_error(
        _aio_error(grpc.StatusCode.INVALID_ARGUMENT, "bad", _trailers(grpc.StatusCode.INVALID_ARGUMENT, "bad", details))
    )
    assert err.reason == "INVALID_PLAYER"
    assert err.retry_after is None


def test_error_without_details() -> None:
    """A transport failure without trailers has a code and details but no reason, domain or metadata."""
    err = from_rpc_error(_aio_error(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses"))
    assert (err.code, err.details) == (grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses")
    assert (err.reason, err.domain, err.metadata, err.retry_after) == (None, None, {}, None)
    assert str(err) == "UNAVAILABLE: failed to connect to all addresses"


@pytest.mark.parametrize(
    "garbage",
    [b"\xff\xfe\xfd", b"\x0a\x05short"],
    ids=["not-protobuf", "truncated"],
)
def test_garbled_details(garbage: bytes) -> None:
    """Undecodable status bytes still give a PlayerStatsError with the call's code and no reason."""
    err = from_rpc_error(_aio_error(grpc.StatusCode.INTERNAL, "boom", (("grpc-status-details-bin", garbage),)))
    assert (err.code, err.details, err.reason) == (grpc.StatusCode.INTERNAL, "boom", None)


def test_garbled_detail_inside_a_valid_status() -> None:
    """An ErrorInfo Any whose bytes are garbage is skipped; the RetryInfo beside it is still read."""
    broken = any_pb2.Any(type_url="type.googleapis.com/google.rpc.ErrorInfo", value=b"\xff\xff\xff")
    retry = _packed(error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=7)))
    trailers = _trailers(grpc.StatusCode.UNAVAILABLE, "x", [broken, *retry])
    err = from_rpc_error(_aio_error(grpc.StatusCode.UNAVAILABLE, "x", trailers))
    assert (err.reason, err.retry_after) == (None, 7.0)


def test_bare_rpc_error_is_unknown() -> None:
    """A grpc.RpcError without code() or details() becomes UNKNOWN with empty details."""
    err = from_rpc_error(grpc.RpcError())
    assert (err.code, err.details, err.reason) == (grpc.StatusCode.UNKNOWN, "", None)
    assert str(err) == "UNKNOWN"


def test_translate_chains_the_original_error() -> None:
    """translate_rpc_errors re-raises an RpcError as PlayerStatsError with the original as __cause__."""
    original = _aio_error(grpc.StatusCode.PERMISSION_DENIED, "no")
    with pytest.raises(PlayerStatsError) as caught, translate_rpc_errors():
        raise original
    assert caught.value.__cause__ is original
    assert caught.value.code is grpc.StatusCode.PERMISSION_DENIED


def test_translate_leaves_other_errors_alone() -> None:
    """Exceptions that are not gRPC errors pass through translate_rpc_errors unchanged."""
    with pytest.raises(KeyError), translate_rpc_errors():
        raise KeyError("x")


def test_str_repr_and_pickle() -> None:
    """The error reads 'CODE REASON: details', has a full repr, and survives pickling intact."""
    err = PlayerStatsError(
        grpc.StatusCode.NOT_FOUND,
        "no Steam player named 'x'",
        reason="PLAYER_NOT_FOUND",
        domain="playerstats.dbd",
        metadata={"player": "x"},
        retry_after=None,
    )
    assert str(err) == "NOT_FOUND PLAYER_NOT_FOUND: no Steam player named 'x'"
    assert "reason='PLAYER_NOT_FOUND'" in repr(err)
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.code, copy.details, copy.reason, copy.domain, copy.metadata) == (
        err.code,
        err.details,
        err.reason,
        err.domain,
        err.metadata,
    )
