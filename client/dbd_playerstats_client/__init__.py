"""Typed async client and CLI for the dbd-playerstats service.

Public surface: :class:`PlayerStatsClient` (``grpc.aio``), :class:`PlayerStatsBlockingClient` (sync
``grpc``), :class:`PlayerStatsError` (every failed call) and :func:`channel_credentials` (TLS). The
generated messages and stubs are in ``dbd.playerstats.v1``.
"""

from dbd_playerstats_client._calls import channel_credentials
from dbd_playerstats_client._version import __version__
from dbd_playerstats_client.client import PlayerStatsBlockingClient, PlayerStatsClient
from dbd_playerstats_client.errors import PlayerStatsError

__all__ = [
    "PlayerStatsBlockingClient",
    "PlayerStatsClient",
    "PlayerStatsError",
    "__version__",
    "channel_credentials",
]
