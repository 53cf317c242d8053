"""`Memo`: values derived from one kept answer (its views, its protobuf messages), kept as long as the answer.

A cache hit serves an answer that has not changed since it was fetched; rebuilding what is derived from it (the
achievements view, the protobuf stats and achievements) is most of the work of a hit. The answer carries a `Memo`
(`dbd_playerstats.cache.shared_fetch.Answer.memo`) and the parts served from it point to it, so each derived
value is built once per answer and the inputs it also depends on (the schema, the percentages, the store's merge
result).

Inputs are compared by identity and held by the entry, so an input cannot be freed and its id reused while the
entry lives. One entry per name: a new input replaces the entry (a refreshed schema rebuilds once). Values kept
here are shared by every request served from the answer and must never be mutated (protobuf messages are
copied into each response).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final, Generic, TypeVar

T = TypeVar("T")

_SEEN: Final = object()
"""The value of an entry that was only asked for once (`Memo.second_use`)."""


class Memo:
    """Derived values by name, each with the inputs (by identity) it was derived from."""

    __slots__ = ("_entries",)

    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple[object, ...], Any]] = {}

    def get(self, name: str, inputs: tuple[object, ...], derive: Callable[[], T]) -> T:
        """The value kept as `name` if it was derived from the very same `inputs`, else `derive()` (kept)."""
        entry = self._entries.get(name)
        if entry is not None and entry[1] is not _SEEN and same_objects(entry[0], inputs):
            return entry[1]  # type: ignore[no-any-return]
        value = derive()
        self._entries[name] = (inputs, value)
        return value

    def peek(self, name: str, inputs: tuple[object, ...]) -> object | None:
        """The value kept as `name` if it was derived from the very same `inputs`, else None (nothing derived)."""
        entry = self._entries.get(name)
        if entry is not None and entry[1] is not _SEEN and same_objects(entry[0], inputs):
            return entry[1]  # type: ignore[no-any-return]
        return None

    def second_use(self, name: str, inputs: tuple[object, ...]) -> bool:
        """Whether `name` was asked for from these very `inputs` before (derive it and `put` it now); else this
        first use is noted and False (derive it and let it go).

        For what most answers are asked for once only: the protobuf messages of a live request (a quarter of a
        held stream's memory, issue 12) are kept from the first cache hit of their answer on."""
        entry = self._entries.get(name)
        if entry is not None and same_objects(entry[0], inputs):
            return True
        self._entries[name] = (inputs, _SEEN)
        return False

    def put(self, name: str, inputs: tuple[object, ...], value: object) -> None:
        """Keep `value` as `name`, derived from `inputs` (replacing what was kept under that name)."""
        self._entries[name] = (inputs, value)

    def __len__(self) -> int:
        return len(self._entries)


def same_objects(kept: tuple[object, ...], inputs: tuple[object, ...]) -> bool:
    """Whether two tuples hold the very same objects, in order (identity, not equality)."""
    return len(kept) == len(inputs) and all(a is b for a, b in zip(kept, inputs, strict=True))


class LastOf(Generic[T]):
    """A one-entry cache keyed by identity: the value built from the latest input, as long as the input is the
    very same object (the catalog's schema until its refresh). Not thread-safe; one event loop."""

    __slots__ = ("_entry",)

    def __init__(self) -> None:
        self._entry: tuple[object, T] | None = None

    def get(self, key: object, build: Callable[[], T]) -> T:
        entry = self._entry
        if entry is not None and entry[0] is key:
            return entry[1]
        value = build()
        self._entry = (key, value)
        return value


__all__ = ["LastOf", "Memo", "same_objects"]
