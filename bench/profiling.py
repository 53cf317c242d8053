"""py-spy on the server while a row's load runs again, summarised as commit-ready text.

py-spy attaches to the running `playerstats-server` (`record --nonblocking`: the server is never paused) and
keeps only the samples of the thread holding the GIL (`--gil`): for an asyncio server that is the work that
competes for its one Python thread, while waits (epoll, the SQLite thread's queue) drop out. Time spent in C
extensions that keep the GIL (grpc's Cython layer, protobuf's upb) shows as the Python frame that called them,
often `Handle._run` of the event loop. The summary: share of samples per library of the innermost frame
("self"), per library anywhere on the stack ("total"), and the same per function.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bench.procs import BenchError, find_tool, run_tool

_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")
_PREFIXES = ("site-packages/", "/lib/python3.11/", "/server/", "/client/", "/bench/")
# Frames every stack of the event loop thread goes through: left out of "total" (they say nothing).
_SCAFFOLD_LIBRARIES = frozenset({"asyncio", "threading", "selectors", "runpy", "dbd_playerstats.main", "?"})
TOP = 15


@dataclass(frozen=True, slots=True)
class Profile:
    """A text summary of one py-spy recording."""

    title: str
    samples: int
    rate: int
    seconds: float
    by_library: list[tuple[str, float]]
    top_self: list[tuple[str, float]]
    top_total: list[tuple[str, float]]
    total_by_library: list[tuple[str, float]]

    def render(self) -> str:
        busy = self.samples / (self.rate * self.seconds) if self.rate and self.seconds else 0.0
        lines = [
            f"{self.title}",
            f"py-spy --gil, {self.rate} Hz for {self.seconds:g} s: {self.samples} samples holding the GIL "
            f"(the GIL was held {busy:.0%} of the time)",
            "",
            "self time by library (innermost Python frame):",
            *(f"  {share:6.1%}  {name}" for name, share in self.by_library),
            "",
            "total time by library (anywhere on the stack; asyncio and thread scaffolding left out):",
            *(f"  {share:6.1%}  {name}" for name, share in self.total_by_library),
            "",
            "self time by function:",
            *(f"  {share:6.1%}  {name}" for name, share in self.top_self),
            "",
            "total time by function (on the stack; asyncio and thread scaffolding left out):",
            *(f"  {share:6.1%}  {name}" for name, share in self.top_total),
        ]
        return "\n".join(lines)


def _short(path: str) -> str:
    for prefix in _PREFIXES:
        index = path.rfind(prefix)
        if index >= 0:
            return path[index + len(prefix) :]
    return path.rsplit("/", 1)[-1]


def _library(short_path: str) -> str:
    parts = short_path.split("/")
    if parts[0] == "dbd_playerstats" and len(parts) > 1:
        module = parts[1].removesuffix(".py")
        return f"dbd_playerstats.{module}"
    if parts[0] in {"google", "opentelemetry"} and len(parts) > 1:
        return f"{parts[0]}.{parts[1].removesuffix('.py')}"
    return parts[0].removesuffix(".py")


def _frame(raw: str) -> tuple[str, str]:
    """(display name `func (path:line)`, library) of one collapsed frame."""
    match = _FRAME.match(raw)
    if match is None:
        return raw, "?"
    short = _short(match["file"])
    line = f":{match['line']}" if match["line"] else ""
    return f"{match['func']} ({short}{line})", _library(short)


def summarise(collapsed: str, *, title: str, rate: int, seconds: float) -> Profile:
    """Summarise py-spy's raw (collapsed) output."""
    self_fn: Counter[str] = Counter()
    self_lib: Counter[str] = Counter()
    total_fn: Counter[str] = Counter()
    total_lib: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_frame(raw) for raw in stack.split(";")]
        samples += count
        name, library = frames[-1]
        self_fn[name] += count
        self_lib[library] += count
        kept = [(name, lib) for name, lib in frames if lib not in _SCAFFOLD_LIBRARIES and "<module>" not in name]
        for seen in {name for name, _ in kept}:
            total_fn[seen] += count
        for seen in {lib for _, lib in kept}:
            total_lib[seen] += count
    if samples == 0:
        return Profile(title, 0, rate, seconds, [], [], [], [])

    def shares(counter: Counter[str]) -> list[tuple[str, float]]:
        return [(name, n / samples) for name, n in counter.most_common(TOP)]

    return Profile(
        title,
        samples,
        rate,
        seconds,
        shares(self_lib),
        shares(self_fn),
        shares(total_fn),
        shares(total_lib),
    )


async def record(
    pid: int,
    load: Callable[[asyncio.Event], Awaitable[object]],
    *,
    title: str,
    seconds: float,
    out: Path,
    rate: int = 200,
) -> Profile | str:
    """Run `load(stop)` while py-spy records `pid` for `seconds`; the summary, or why there is none (a string)."""
    py_spy = find_tool("py-spy")
    if py_spy is None:
        return "py-spy is not installed (pip install -c constraints.txt -e '.[bench]'): no profile"
    stop = asyncio.Event()
    running = asyncio.ensure_future(load(stop))
    try:
        await asyncio.sleep(0.5)  # the load is established before sampling starts
        cmd = [py_spy, "record", "--pid", str(pid), "--duration", f"{seconds:g}", "--rate", str(rate)]
        cmd += ["--format", "raw", "--output", str(out), "--nonblocking", "--full-filenames", "--gil"]
        try:
            code, _, err = await run_tool(cmd, timeout=seconds + 30)
        except BenchError as exc:
            return f"py-spy failed: {exc}"
    finally:
        stop.set()
        await asyncio.wait_for(running, 60)
    collapsed = await asyncio.to_thread(_read, out)
    if code != 0 or collapsed is None:
        return f"py-spy failed (exit {code}): {err.strip()[-300:]}"
    return summarise(collapsed, title=title, rate=rate, seconds=seconds)


def _read(path: Path) -> str | None:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return None


__all__ = ["Profile", "record", "summarise"]
