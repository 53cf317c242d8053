"""The public surface of dbd_playerstats.telemetry is exactly its __all__."""

from __future__ import annotations

import inspect

from dbd_playerstats import telemetry


def test_all_lists_every_public_name_and_only_existing_ones() -> None:
    """Every public module-level class or function of the package is in __all__, and every name there exists."""
    public = {
        name
        for name, value in vars(telemetry).items()
        if not name.startswith("_") and not inspect.ismodule(value) and name != "annotations"
    }
    assert set(telemetry.__all__) == public
    assert all(hasattr(telemetry, name) for name in telemetry.__all__)
