"""The server leaves its start-up objects out of later garbage collections (issue 12: full-collection pauses)."""

from __future__ import annotations

import gc

from dbd_playerstats.main import _freeze_startup_objects


def test_start_up_objects_are_frozen_out_of_later_collections() -> None:
    made_at_start_up = [object() for _ in range(3)], {"settings": [1, 2, 3]}
    assert gc.is_tracked(made_at_start_up[1])
    before = gc.get_freeze_count()
    try:
        _freeze_startup_objects()
        assert gc.get_freeze_count() > before
        assert not any(obj is made_at_start_up[1] for obj in gc.get_objects()), "frozen: no collection sees it"
    finally:
        gc.unfreeze()
    assert any(obj is made_at_start_up[1] for obj in gc.get_objects())
