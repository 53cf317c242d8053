"""Per-caller token buckets and caller identity, on a fake clock and fake contexts."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import grpc
import pytest

from dbd_playerstats.api.quota import (
    MAX_CALLER_CHARS,
    CallerAccount,
    CallerQuota,
    CallerQuotas,
    caller_of,
    peer_host,
)
from dbd_playerstats.config.settings import LimitsSettings
from dbd_playerstats.errors import CallerQuotaExceededError


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeContext:
    """The three things caller_of reads from a grpc.aio.ServicerContext."""

    def __init__(
        self,
        *,
        auth: dict[str, list[bytes]] | None = None,
        metadata: Sequence[tuple[str, str | bytes]] = (),
        peer: str = "ipv4:10.1.2.3:5555",
    ) -> None:
        self._auth = auth or {}
        self._metadata = tuple(metadata)
        self._peer = peer

    def auth_context(self) -> dict[str, list[bytes]]:
        return self._auth

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return self._metadata

    def peer(self) -> str:
        return self._peer


def caller(**kwargs: Any) -> str:
    return caller_of(cast("grpc.aio.ServicerContext[Any, Any]", FakeContext(**kwargs)))


def test_burst_then_one_token_per_interval() -> None:
    """A rested caller gets `burst` calls at once, then one per 60/per_min seconds; the wait is exact."""
    clock = FakeClock()
    quota = CallerQuota(60, 3, clock=clock)
    assert [quota.try_acquire("a") for _ in range(3)] == [None, None, None]
    assert quota.try_acquire("a") == pytest.approx(1.0)
    clock.now += 0.4
    assert quota.try_acquire("a") == pytest.approx(0.6)
    clock.now += 0.6
    assert quota.try_acquire("a") is None
    assert quota.try_acquire("a") == pytest.approx(1.0)


def test_rejected_calls_do_not_push_the_next_token_further() -> None:
    """Hammering while empty costs nothing: the next token still comes on time."""
    clock = FakeClock()
    quota = CallerQuota(6, 1, clock=clock)
    assert quota.try_acquire("a") is None
    for _ in range(100):
        assert quota.try_acquire("a") == pytest.approx(10.0)
    clock.now += 10
    assert quota.try_acquire("a") is None


def test_waits_are_exact_below_a_millisecond_and_a_due_token_is_granted() -> None:
    """7 a minute is one token every 8.571428... s: the wait is that to the microsecond, not rounded to a ms, and
    a clock that reaches the due time in float steps (which do not add up exactly) gets the token."""
    clock = FakeClock()
    quota = CallerQuota(7, 1, clock=clock)
    assert quota.try_acquire("a") is None
    assert quota.try_acquire("a") == pytest.approx(60 / 7, abs=1e-6)
    for _ in range(4):
        clock.now += 60 / 7 / 4  # ends 1e-13 s short of the due time
    assert quota.try_acquire("a") is None
    assert quota.try_acquire("a") == pytest.approx(60 / 7, abs=1e-6)


def test_callers_have_separate_buckets() -> None:
    """One caller's empty bucket does not affect another caller."""
    quota = CallerQuota(1, 1, clock=FakeClock())
    assert quota.try_acquire("a") is None
    assert quota.try_acquire("a") is not None
    assert quota.try_acquire("b") is None


def test_memory_is_bounded_and_the_least_recently_used_caller_is_forgotten() -> None:
    """At most max_callers buckets are kept; the least recently seen goes first, with its debt."""
    quota = CallerQuota(1, 1, max_callers=3, clock=FakeClock())
    for name in ("a", "b", "c"):
        assert quota.try_acquire(name) is None
    assert quota.try_acquire("a") is not None  # a is now the most recently used
    assert quota.try_acquire("d") is None
    assert len(quota) == 3
    assert quota.try_acquire("a") is not None  # kept: still empty
    assert quota.try_acquire("b") is None  # forgotten: a full bucket again


def test_check_raises_with_caller_and_retry_after() -> None:
    """check() raises CallerQuotaExceededError carrying the caller and the seconds until its next token."""
    quota = CallerQuota(30, 1, clock=FakeClock())
    quota.check("id:svc")
    with pytest.raises(CallerQuotaExceededError) as info:
        quota.check("id:svc")
    assert info.value.caller == "id:svc"
    assert info.value.retry_after == pytest.approx(2.0)
    assert "30 Steam calls per minute (burst 1)" in info.value.message
    assert info.value.quota == "steam_calls"


def test_a_request_needs_a_token_for_its_first_steam_call_and_pays_the_others_into_debt() -> None:
    """A request's first Steam call is refused without a token; once admitted, its later calls are charged
    regardless (a stream is never cut between its parts), and the debt delays the caller's next request."""
    clock = FakeClock()
    quota = CallerQuota(60, 2, clock=clock)
    first = CallerAccount(quota, "id:a")
    for endpoint in ("stats", "profile", "achievements", "schema"):
        first.charge(endpoint)  # 2 tokens in the bucket, 4 calls: 2 of debt
    assert quota.try_acquire("id:a") == pytest.approx(3.0)  # the debt (2 s) and the next token's interval
    with pytest.raises(CallerQuotaExceededError):
        CallerAccount(quota, "id:a").charge("stats")
    clock.now += 3
    CallerAccount(quota, "id:a").charge("stats")


def test_the_rpc_limit_refuses_an_rpc_and_a_disabled_steam_quota_has_no_payer() -> None:
    """`admit` takes one RPC token (CALLER_QUOTA_EXCEEDED quota=rpcs when none is left) and returns the payer of
    the RPC's Steam calls, None when that quota is off."""
    quotas = CallerQuotas(steam_calls=None, rpcs=CallerQuota(60, 2, clock=FakeClock()))
    assert quotas.admit("peer:h") is None
    assert quotas.admit("peer:h") is None
    with pytest.raises(CallerQuotaExceededError) as info:
        quotas.admit("peer:h")
    assert (info.value.quota, info.value.caller) == ("rpcs", "peer:h")
    assert "60 requests per minute" in info.value.message
    metered = CallerQuotas(steam_calls=CallerQuota(60, 2), rpcs=None)
    assert isinstance(metered.admit("peer:h"), CallerAccount)


@pytest.mark.parametrize(("per_min", "burst"), [(0, 1), (1, 0), (-1, 5)])
def test_invalid_quota_is_refused(per_min: int, burst: int) -> None:
    """A quota that could never admit a call, or is not a rate, is a ValueError."""
    with pytest.raises(ValueError, match="invalid quota"):
        CallerQuota(per_min, burst)


def test_certificate_subject_wins_over_caller_id_and_peer() -> None:
    """Under mutual TLS the verified subject is the caller, whatever x-caller-id says."""
    auth = {"x509_subject": [b"CN=alice,O=tests"], "x509_common_name": [b"alice"]}
    assert caller(auth=auth, metadata=[("x-caller-id", "bob")]) == "cert:CN=alice,O=tests"
    assert caller(auth={"x509_common_name": [b"alice"]}) == "cert:alice"


def test_caller_id_wins_over_peer_and_blank_ids_are_ignored() -> None:
    """x-caller-id names the caller when present and not blank; otherwise the peer's host does."""
    assert caller(metadata=[("user-agent", "x"), ("x-caller-id", " svc ")]) == "id:svc"
    assert caller(metadata=[("x-caller-id", "  ")]) == "peer:10.1.2.3"
    assert caller() == "peer:10.1.2.3"


def test_namespaces_keep_a_caller_id_from_posing_as_a_host() -> None:
    """An x-caller-id equal to a host's address is a different caller from that host."""
    assert caller(metadata=[("x-caller-id", "10.1.2.3")]) != caller()


def test_long_identities_are_bounded_but_stay_distinct() -> None:
    """An 8 KiB caller id becomes a bounded key; two long ids with the same prefix stay apart."""
    first = caller(metadata=[("x-caller-id", "a" * 8192)])
    second = caller(metadata=[("x-caller-id", "a" * 8191 + "b")])
    assert len(first) == MAX_CALLER_CHARS
    assert first != second


@pytest.mark.parametrize(
    ("peer", "host"),
    [
        ("ipv4:127.0.0.1:50051", "127.0.0.1"),
        ("ipv6:[::1]:50051", "::1"),
        ("ipv6:%5B2001:db8::7%5D:443", "2001:db8::7"),
        ("unix:/run/playerstats.sock", "unix:/run/playerstats.sock"),
        ("ipv4:10.0.0.1", "10.0.0.1"),
    ],
)
def test_peer_host_drops_the_port(peer: str, host: str) -> None:
    """Connections from one host share a bucket: the port is not part of the identity."""
    assert peer_host(peer) == host


def test_disabled_quotas_are_none() -> None:
    """Both quotas at 0: no quota object at all, so the method wrappers call the servicer directly."""
    assert CallerQuotas.from_settings(LimitsSettings(caller_quota_per_min=0, caller_rpc_per_min=0)) is None
    only_rpcs = CallerQuotas.from_settings(LimitsSettings(caller_quota_per_min=0, caller_rpc_per_min=60))
    assert only_rpcs is not None
    assert only_rpcs.steam_calls is None
    assert only_rpcs.rpcs is not None
