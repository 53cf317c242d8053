"""h2load (Debian's nghttp2-client) as a gRPC unary load generator.

A gRPC request is an HTTP/2 POST with `content-type: application/grpc` and `te: trailers` whose body is one
length-prefixed message: a flag byte (0: not compressed), the length as 4 big-endian bytes, the message. h2load
sends the same body on every request and counts any HTTP 200 as a success, whatever `grpc-status` the trailers
carry, so the driver checks the answers itself: a sample call before and after each run, and the DATA bytes
h2load received per request, which must be the full length-prefixed response (an error has no DATA at all).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from bench.procs import BenchError, run_tool

_FINISHED = re.compile(r"finished in ([\d.]+)(m?s), ([\d.]+) req/s")
_REQUESTS = re.compile(
    r"requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout"
)
_STATUS = re.compile(r"status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx")
_DATA = re.compile(r"traffic: .*?, .*?headers.*?, [\d.]+\w*B \((\d+)\) data")


def grpc_frame(message: bytes) -> bytes:
    """The gRPC length-prefixed message: flag 0, big-endian length, bytes."""
    return b"\x00" + len(message).to_bytes(4, "big") + message


@dataclass(frozen=True, slots=True)
class H2loadResult:
    """What h2load measured (after its warm-up): requests per second and what came back."""

    rps: float
    seconds: float
    succeeded: int
    failed: int
    non_2xx: int
    data_bytes: int
    command: str

    def data_per_request(self) -> float:
        return self.data_bytes / self.succeeded if self.succeeded else 0.0


def parse(output: str, command: str) -> H2loadResult:
    """Parse h2load's summary (BenchError when it is not there, e.g. the connection failed)."""
    finished = _FINISHED.search(output)
    requests = _REQUESTS.search(output)
    status = _STATUS.search(output)
    data = _DATA.search(output)
    if finished is None or requests is None or status is None or data is None:
        raise BenchError(f"unexpected h2load output:\n{output[-2000:]}")
    seconds = float(finished.group(1)) / (1000 if finished.group(2) == "ms" else 1)
    non_2xx = sum(int(status.group(i)) for i in (2, 3, 4))
    return H2loadResult(
        rps=float(finished.group(3)),
        seconds=seconds,
        succeeded=int(requests.group(4)),
        failed=int(requests.group(5)) + int(requests.group(6)) + int(requests.group(7)),
        non_2xx=non_2xx,
        data_bytes=int(data.group(1)),
        command=command,
    )


async def run(
    h2load: str,
    *,
    url: str,
    body: Path,
    duration: float,
    warmup: float,
    clients: int,
    streams: int,
) -> H2loadResult:
    """Run h2load for `duration` seconds after `warmup` seconds against `url` (a gRPC method's path)."""
    cmd = [
        h2load,
        f"--duration={round(duration * 1000)}ms",
        f"--warm-up-time={round(warmup * 1000)}ms",
        f"--clients={clients}",
        "--threads=1",
        f"--max-concurrent-streams={streams}",
        "--header=content-type: application/grpc",
        "--header=te: trailers",
        f"--data={body}",
        url,
    ]
    code, out, err = await run_tool(cmd, timeout=duration + warmup + 30)
    if code != 0:
        raise BenchError(f"h2load exited with code {code}:\n{(out + err)[-2000:]}")
    return parse(out, " ".join(cmd))


__all__ = ["H2loadResult", "grpc_frame", "parse", "run"]
