"""`playerstats-healthcheck`: exit 0 when the local server's gRPC health says SERVING (Docker HEALTHCHECK).

Under TLS the probe needs what any caller needs: the CA that signed the server certificate
(`PLAYERSTATS_HEALTHCHECK_CA`, default: `PLAYERSTATS_TLS_CERT` itself, right for a self-signed certificate), the
name the certificate is valid for (`PLAYERSTATS_HEALTHCHECK_SERVER_NAME`), and under mutual TLS a client
certificate and key (`PLAYERSTATS_HEALTHCHECK_CLIENT_CERT` / `..._CLIENT_KEY`).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc


def _read(path: str | None) -> bytes | None:
    return Path(path).read_bytes() if path else None


def main(argv: Sequence[str] | None = None) -> int:
    env = os.environ
    parser = argparse.ArgumentParser(description=__doc__)
    port = env.get("PLAYERSTATS_LISTEN", "[::]:50051").rpartition(":")[2]
    parser.add_argument("--target", default=f"127.0.0.1:{port}")
    parser.add_argument("--service", default="dbd.playerstats.v1.PlayerStatsService")
    parser.add_argument("--timeout", type=float, default=3.0)
    tls_on = bool(env.get("PLAYERSTATS_TLS_CERT"))
    parser.add_argument("--ca-cert", default=env.get("PLAYERSTATS_HEALTHCHECK_CA", env.get("PLAYERSTATS_TLS_CERT")))
    parser.add_argument("--client-cert", default=env.get("PLAYERSTATS_HEALTHCHECK_CLIENT_CERT"))
    parser.add_argument("--client-key", default=env.get("PLAYERSTATS_HEALTHCHECK_CLIENT_KEY"))
    parser.add_argument("--server-name", default=env.get("PLAYERSTATS_HEALTHCHECK_SERVER_NAME"))
    parser.add_argument("--tls", action="store_true", default=tls_on, help="speak TLS (default: when TLS is on)")
    args = parser.parse_args(argv)
    options: list[tuple[str, str]] = []
    if args.server_name:
        options.append(("grpc.ssl_target_name_override", args.server_name))
    try:
        if args.tls:
            credentials = grpc.ssl_channel_credentials(
                _read(args.ca_cert), _read(args.client_key), _read(args.client_cert)
            )
            channel = grpc.secure_channel(args.target, credentials, options=options)
        else:
            channel = grpc.insecure_channel(args.target)
    except OSError as exc:
        print(f"unhealthy: cannot read a certificate file: {exc}", file=sys.stderr)
        return 1
    with channel:
        try:
            response = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service=args.service), timeout=args.timeout
            )
        except grpc.RpcError as exc:
            print(f"unhealthy: {exc.code().name}", file=sys.stderr)
            return 1
    print(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))
    return 0 if response.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    raise SystemExit(main())
