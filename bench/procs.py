"""Child processes of the benchmark: started with their output in files, ready when a line appears, always stopped.

Only our own console scripts and tools are started (the simulator, the server, the bare servicer, h2load,
py-spy), each by the exact command the driver builds.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

READY_POLL_SECS = 0.02
STOP_TIMEOUT_SECS = 15.0
CLK_TCK = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """The benchmark cannot go on (a process did not start, a check failed); the message says why."""


def find_tool(name: str) -> str | None:
    """`name` from this interpreter's bin directory first (the venv), else from PATH; None when absent."""
    return shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)


@dataclass
class Proc:
    """A started child process; its stdout and stderr are files under the run's work directory."""

    name: str
    popen: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def stop(self, timeout: float = STOP_TIMEOUT_SECS) -> int | None:
        """SIGTERM, wait up to `timeout` seconds, then SIGKILL; the exit code (None if it could not be reaped)."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.popen.wait(timeout=5)
        return self.popen.returncode

    def tail(self, lines: int = 15) -> str:
        """The last lines of its stderr (for error messages)."""
        try:
            text = self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def memory_kib(self) -> dict[str, int]:
        """VmRSS and VmHWM (peak RSS) of the process from /proc/<pid>/status, in KiB."""
        return memory_kib(self.pid)

    def cpu_secs(self) -> float:
        """User + system CPU seconds the process has used so far (/proc/<pid>/stat)."""
        return cpu_secs(self.pid)


def memory_kib(pid: int) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in {"VmRSS", "VmHWM"}:
            out[key] = int(value.split()[0])
    return out


def cpu_secs(pid: int) -> float:
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime (fields 14 and 15 of proc(5))


async def start(
    name: str,
    cmd: list[str],
    *,
    env: dict[str, str],
    ready: re.Pattern[str],
    workdir: Path,
    timeout: float,
) -> tuple[Proc, re.Match[str]]:
    """Start `cmd`; return once its stdout has a line matching `ready` (BenchError after `timeout` seconds)."""
    stdout_path = workdir / f"{name}.stdout"
    stderr_path = workdir / f"{name}.stderr"
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        popen = subprocess.Popen(cmd, env=env, stdout=out, stderr=err, stdin=subprocess.DEVNULL)  # noqa: ASYNC220
    proc = Proc(name, popen, stdout_path, stderr_path)
    deadline = time.monotonic() + timeout
    try:
        return proc, await _wait_ready(proc, ready, deadline, timeout)
    except BaseException:
        proc.stop()
        raise


async def _wait_ready(proc: Proc, ready: re.Pattern[str], deadline: float, timeout: float) -> re.Match[str]:
    for _ in range(math.ceil(timeout / READY_POLL_SECS) + 1):
        match = _ready(proc, ready, deadline, timeout)
        if match is not None:
            return match
        await asyncio.sleep(READY_POLL_SECS)
    raise BenchError(f"{proc.name} was not ready within {timeout:g}s:\n{proc.tail()}")


def _ready(proc: Proc, ready: re.Pattern[str], deadline: float, timeout: float) -> re.Match[str] | None:
    """The ready line's match, None while still starting; BenchError when it died or took too long."""
    match = ready.search(proc.stdout_path.read_text(errors="replace"))
    if match is not None:
        return match
    if not proc.alive():
        raise BenchError(f"{proc.name} exited with code {proc.popen.returncode} before it was ready:\n{proc.tail()}")
    if time.monotonic() > deadline:
        raise BenchError(f"{proc.name} was not ready within {timeout:g}s:\n{proc.tail()}")
    return None


async def run_tool(cmd: list[str], *, timeout: float) -> tuple[int, str, str]:
    """Run a tool to completion (killed after `timeout` seconds): exit code, stdout, stderr."""
    proc = await asyncio.create_subprocess_exec(
        *cmd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise BenchError(f"{Path(cmd[0]).name} did not finish within {timeout:g}s") from None
    return proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")


__all__ = [
    "BenchError",
    "Proc",
    "cpu_secs",
    "find_tool",
    "memory_kib",
    "run_tool",
    "start",
]
