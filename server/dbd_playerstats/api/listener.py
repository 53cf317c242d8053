"""How the gRPC port is opened: TLS credentials from the PEM files, and the server's limits as gRPC options.

Pure functions of the settings, applied by `app.build_server`. What each limit does when it is hit:

- `grpc.max_receive_message_length`: a larger request fails RESOURCE_EXHAUSTED before the handler runs.
- `grpc.max_send_message_length`: a larger response fails RESOURCE_EXHAUSTED (ours are a few tens of KiB).
- `grpc.max_concurrent_streams`: HTTP/2 SETTINGS; a client queues further calls on that connection.
- `maximum_concurrent_rpcs` (an argument of `grpc.aio.server`, see `max_concurrent_rpcs`): a call beyond the cap
  fails RESOURCE_EXHAUSTED at once, whatever the method (health checks count too).
- keepalive: the server pings an idle connection every `keepalive_time_ms` and drops it when no answer comes
  within `keepalive_timeout_ms`; a client pinging more often than `min_ping_interval_without_data_ms` (or at all
  while no call is in flight, unless `keepalive_permit_without_calls`) earns a strike, and past `max_ping_strikes`
  strikes (0 = no limit) the server sends GOAWAY `too_many_pings` and closes the connection.
- `grpc.max_connection_age_ms` (+-10 % jitter by gRPC): the server sends GOAWAY, so clients reconnect (and are
  rebalanced); calls in flight get `grpc.max_connection_age_grace_ms` more to finish, then are cancelled.
"""

from __future__ import annotations

from pathlib import Path

import grpc

from dbd_playerstats.config.settings import LimitsSettings, TlsSettings

GrpcOptions = list[tuple[str, int]]


def server_credentials(tls: TlsSettings) -> grpc.ServerCredentials | None:
    """TLS credentials for the port, or None for plaintext; mutual TLS when a client CA is configured.

    Reads the files again (settings validated them at start-up); an OSError names the variable.
    """
    if tls.cert_file is None or tls.key_file is None:
        return None
    cert = _read(tls.cert_file, "PLAYERSTATS_TLS_CERT")
    key = _read(tls.key_file, "PLAYERSTATS_TLS_KEY")
    client_ca = None if tls.client_ca_file is None else _read(tls.client_ca_file, "PLAYERSTATS_TLS_CLIENT_CA")
    return grpc.ssl_server_credentials(
        [(key, cert)],
        root_certificates=client_ca,
        require_client_auth=client_ca is not None,
    )


def server_options(limits: LimitsSettings) -> GrpcOptions:
    """The channel arguments of the server for `limits` (times converted to the milliseconds gRPC wants)."""
    options: GrpcOptions = [
        ("grpc.max_receive_message_length", limits.max_receive_message_bytes),
        ("grpc.max_send_message_length", limits.max_send_message_bytes),
        ("grpc.max_concurrent_streams", limits.max_concurrent_streams),
        ("grpc.keepalive_time_ms", _ms(limits.keepalive_time_secs)),
        ("grpc.keepalive_timeout_ms", _ms(limits.keepalive_timeout_secs)),
        ("grpc.http2.min_ping_interval_without_data_ms", _ms(limits.min_ping_interval_secs)),
        ("grpc.keepalive_permit_without_calls", int(limits.permit_pings_without_calls)),
        ("grpc.http2.max_ping_strikes", limits.max_ping_strikes),
    ]
    if limits.max_connection_age_secs > 0:
        options += [
            ("grpc.max_connection_age_ms", _ms(limits.max_connection_age_secs)),
            ("grpc.max_connection_age_grace_ms", _ms(limits.max_connection_age_grace_secs)),
        ]
    return options


def max_concurrent_rpcs(limits: LimitsSettings) -> int | None:
    """`maximum_concurrent_rpcs` for `grpc.aio.server`: None (no cap) when the setting is 0."""
    return limits.max_concurrent_rpcs or None


def _ms(seconds: float) -> int:
    return round(seconds * 1000)


def _read(path: Path, variable: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise OSError(f"cannot read {variable}={str(path)!r}: {exc.strerror or exc}") from None


__all__ = ["GrpcOptions", "max_concurrent_rpcs", "server_credentials", "server_options"]
