"""The installed distribution's version, read once from its metadata."""

from importlib import metadata

try:
    __version__ = metadata.version("dbd-playerstats-client")
except metadata.PackageNotFoundError:  # pragma: no cover - only when run from a bare source tree
    __version__ = "0+unknown"
