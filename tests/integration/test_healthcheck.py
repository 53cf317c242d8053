"""`playerstats-healthcheck` (the Docker HEALTHCHECK) against real plaintext and mutual-TLS servers."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from typing import TYPE_CHECKING

from dbd_playerstats.api import healthcheck
from dbd_playerstats.config.settings import Settings

if TYPE_CHECKING:
    from tests.conftest import Pki, ServeFn


async def probe(*args: str) -> int:
    return await asyncio.to_thread(healthcheck.main, list(args))


async def test_plaintext_server_is_healthy_then_not_after_shutdown_begins(serve: ServeFn, settings: Settings) -> None:
    """Exit 0 while SERVING, exit 1 once graceful shutdown has set NOT_SERVING."""
    running = await serve(settings)
    target = f"127.0.0.1:{running.port}"
    assert await probe("--target", target) == 0
    await running.health.enter_graceful_shutdown()
    assert await probe("--target", target) == 1


async def test_mutual_tls_needs_the_probe_certificate(serve: ServeFn, settings: Settings, pki: Pki) -> None:
    """Under mTLS the probe passes with a client certificate of the CA and fails without one."""
    tls = Settings.from_env(pki.tls_env(mutual=True)).tls
    running = await serve(replace(settings, tls=tls))
    target = f"127.0.0.1:{running.port}"
    common = ["--target", target, "--tls", "--ca-cert", str(pki.ca_cert)]
    with_cert = ["--client-cert", str(pki.alice_cert), "--client-key", str(pki.alice_key)]
    assert await probe(*common, *with_cert) == 0
    assert await probe(*common) == 1
