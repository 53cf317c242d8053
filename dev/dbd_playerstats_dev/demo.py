"""`scripts/demo`: the Steam simulator, the server and the CLI, as three real processes on loopback.

The simulator answers stats after 50 ms and achievements after 400 ms, so the stream visibly delivers the stats
first. Everything runs on the embedded defaults (SQLite under a temporary data directory, in-process state).

The server exports its traces over OTLP/gRPC to a receiver inside this process; after the stream the demo prints
that call's trace as a tree. The server also serves its Connect (JSON/HTTP) face (`PLAYERSTATS_HTTP_LISTEN`):
the demo runs the README's curl lines against it, prints the browser URL, and asks channelz (grpcurl) for the
server's live counters. The simulator answers the first profile request with a 503 (``--steam-503s``),
so the tree shows a retry: two attempt spans under ``steam.profile`` and the ``steam.retry`` event between them.
(Profile rather than stats: a failed stats attempt first waits for the achievements call, 400 ms here, to tell a
private profile from a Steam failure, which would hold the stats back until the achievements are in.)

Then a whole lobby in one `StreamLobbyStats`: seven entries (`demo` already cached, one invalid, one never
played, one named twice) whose parts come out as they are ready, a slow player last (the simulator holds its
stats back a second), with the number of GetPlayerSummaries calls the lobby cost (one); and four of them again
with ``--max-age 0``: live from Steam although cached. Last, `playerstats watch demo` while demo plays a match
(the simulator adds an escape): the snapshot, then the change the moment the server sees it; and
`playerstats history demo --stat DBD_Escape` shows the change and the unlock timeline from the store.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from dbd_playerstats.sim import DEMO_STEAM_ID
from dbd_playerstats_dev.otlp_receiver import OtlpTraceReceiver, running_receiver
from dbd_playerstats_dev.trace_tree import find_trace, render_trace

STARTUP_TIMEOUT_SECS = 30.0
TRACE_WAIT_SECS = 5.0
SLOW_PLAYER = "76561198100000043"
HISTORY = ["history", "demo", "--stat", "DBD_Escape"]
WATCH = ["watch", "demo", "--interval", "1"]
WATCH_SNAPSHOT_LINES = 3
LOBBY = ["fresh_player", "76561198100000042", SLOW_PLAYER, "demo", "never_played", "not a player!", "fresh_player"]


def _bin(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise SystemExit(f"demo: {name} is not installed; run scripts/demo from the repository")
    return found


@contextmanager
def _process(cmd: Sequence[str], env: dict[str, str], *ready: re.Pattern[str]) -> Iterator[list[re.Match[str]]]:
    """Start `cmd`, wait for stdout lines matching each of `ready` in turn, stop it with SIGTERM on exit."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        matches: list[re.Match[str]] = []
        for line in proc.stdout:
            match = ready[len(matches)].search(line)
            if match:
                matches.append(match)
            if len(matches) == len(ready):
                yield matches
                break
        else:
            raise SystemExit(f"demo: {Path(cmd[0]).name} exited before it was ready (code {proc.wait()})")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def _admin(sim_url: str, path: str, body: object | None = None) -> dict[str, int]:
    """One call of the simulator's admin API: POST `body` as JSON, or GET without one."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(  # noqa: S310 - the simulator we started, over http on loopback
        f"{sim_url}/_sim/{path}", data=data, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - same
        answer: dict[str, int] = json.load(response)
    return answer


def _inject_503s(sim_url: str, count: int) -> None:
    """Queue `count` HTTP 503 answers for the next profile requests."""
    if count > 0:
        _admin(sim_url, "faults", {"endpoint": "profile", "faults": [{"kind": "http_503"}] * count})


def _slow_stats(sim_url: str, steam_id: str, seconds: float) -> None:
    """Hold back the next stats answer for `steam_id` by `seconds`, then answer normally."""
    stall = {"kind": "timeout", "stall_seconds": seconds}
    _admin(sim_url, "faults", {"endpoint": "stats", "faults": [stall], "steam_id": steam_id})


def _play_a_match(sim_url: str, steam_id: str) -> None:
    """The player escapes once more: the simulator's DBD_Escape of `steam_id` goes up by one."""
    query = urllib.parse.urlencode({"key": "sim-key", "steamid": steam_id, "appid": "381210"})
    url = f"{sim_url}/ISteamUserStats/GetUserStatsForGame/v2/?{query}"
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - the simulator, on loopback
        stats = json.load(response)["playerstats"]["stats"]
    escapes = next(int(entry["value"]) for entry in stats if entry["name"] == "DBD_Escape")
    _admin(sim_url, "stats", {"steam_id": steam_id, "overrides": {"DBD_Escape": escapes + 1}})


def _watch_a_match(cmd: Sequence[str], env: dict[str, str], sim_url: str) -> None:
    """Run `playerstats watch`: its snapshot's first lines, then demo plays a match, then the change it prints."""
    watch = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    assert watch.stdout is not None
    try:
        for _ in range(WATCH_SNAPSHOT_LINES):
            print(watch.stdout.readline().rstrip(), flush=True)
        print("   ... (the rest of the snapshot; now demo escapes once more)", flush=True)
        _play_a_match(sim_url, DEMO_STEAM_ID)
        for line in watch.stdout:
            if "changed" in line or "unlocked" in line or "problem" in line:
                print(line.rstrip(), flush=True)
                if "changed" in line:
                    break
    finally:
        watch.terminate()
        watch.wait(timeout=10)


def _print_trace(receiver: OtlpTraceReceiver, rpc_suffix: str) -> None:
    """Print the tree of the first trace whose root is `rpc_suffix`, once the server has exported it."""
    receiver.wait_for(lambda spans: find_trace(spans, rpc_suffix) is not None, TRACE_WAIT_SECS)
    spans = receiver.spans()
    trace_id = find_trace(spans, rpc_suffix)
    if trace_id is None:
        print("(no trace arrived: is OTEL_SDK_DISABLED or OTEL_TRACES_EXPORTER=none set?)", flush=True)
        return
    print(f"\n== The trace of that call ({trace_id}), as the server exported it over OTLP", flush=True)
    for line in render_trace(spans, trace_id):
        print(f"  {line}", flush=True)


def _run_shown(cmd: Sequence[str], env: dict[str, str], *, limit: int = 12, name: str | None = None) -> None:
    """Print `cmd` as a shell line (its program as `name`), run it, print the first `limit` lines of its output."""
    shown = [name or cmd[0], *cmd[1:]]
    print("$ " + " ".join(shlex.quote(part) for part in shown), flush=True)
    done = subprocess.run(cmd, env=env, check=False, capture_output=True, text=True, timeout=30)
    lines = (done.stdout + done.stderr).rstrip().splitlines()
    for line in lines[:limit]:
        print(f"  {line}", flush=True)
    if len(lines) > limit:
        print(f"  ... ({len(lines) - limit} more lines)", flush=True)


def _http_face(http_port: str, grpc_target: str, env: dict[str, str]) -> None:
    """The same service over Connect JSON/HTTP with curl, as a browser URL, and channelz through grpcurl."""
    base = f"http://127.0.0.1:{http_port}/dbd.playerstats.v1.PlayerStatsService"
    curl = shutil.which("curl")
    print("\n== The same service as JSON over HTTP (Connect protocol), e.g. with curl", flush=True)
    for player, method in (("demo", "ResolvePlayer"), ("private_player", "GetPlayerStats")):
        body = json.dumps({"player": player}, separators=(",", ":"))
        cmd = ["curl", "-sS", "-H", "content-type: application/json", "-d", body, f"{base}/{method}"]
        if curl is None:
            print("$ " + " ".join(shlex.quote(part) for part in cmd) + "   (curl is not installed here)", flush=True)
        else:
            _run_shown([curl, *cmd[1:]], env, name="curl")
    query = urllib.parse.urlencode(
        {"encoding": "json", "message": json.dumps({"player": "demo"}, separators=(",", ":"))}
    )
    print(f"\n== Or in a browser's address bar: {base}/GetPlayerStats?{query}", flush=True)
    print("\n== Live server and socket counters (channelz) with grpcurl", flush=True)
    _run_shown([_bin("grpcurl"), "-plaintext", grpc_target, "grpc.channelz.v1.Channelz/GetServers"], env, limit=40)


def _server_env(env: dict[str, str], sim_url: str, data_dir: str, traces_endpoint: str) -> dict[str, str]:
    return env | {
        "STEAM_API_BASE_URL": sim_url,
        "STEAM_API_KEY": "sim-key",
        "PLAYERSTATS_LISTEN": "127.0.0.1:0",
        "PLAYERSTATS_HTTP_LISTEN": "127.0.0.1:0",  # the Connect (JSON/HTTP) face, for curl
        "PLAYERSTATS_WATCH_MIN_INTERVAL_SECS": "1",  # the watch step looks every second
        "PLAYERSTATS_DATA_DIR": data_dir,
        "PLAYERSTATS_LOG_LEVEL": env.get("PLAYERSTATS_LOG_LEVEL", "WARNING"),
        # Traces only (the receiver has no metrics service), exported every 100 ms instead of 5 s.
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": traces_endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        # Short backoff, so the retried profile delays the stats part by milliseconds only.
        "BASE_BACKOFF_MS": "20",
        "MAX_BACKOFF_MS": "100",
    }


def _run_steps(cli: list[str], env: dict[str, str], sim_url: str, receiver: OtlpTraceReceiver, player: str) -> None:
    """Run the CLI once per step, with the first stream's trace and each lobby's GetPlayerSummaries calls."""
    steps = [
        (f"Streaming {player!r}: stats arrive first, achievements when ready", ["stream", player]),
        ("Resolving a profile URL", ["resolve", "https://steamcommunity.com/id/demo/"]),
        ("A private profile gets a precise error", ["stream", "private_player"]),
        (
            f"A whole lobby in one stream, each part as it is ready (#index = position; {SLOW_PLAYER}'s stats "
            "held back 1 s)",
            ["lobby", *LOBBY],
        ),
        ("The same players, live from Steam although cached", ["--max-age", "0", "lobby", *LOBBY[:4]]),
        ("Watching demo while it plays a match (the simulator adds an escape)", WATCH),
        ("How demo's escapes changed, and the unlock timeline, from the store", HISTORY),
    ]
    for index, (title, cmd) in enumerate(steps):
        print(f"\n== {title}: playerstats {' '.join(cmd)}", flush=True)
        profiles_before = _admin(sim_url, "counts")["profile"]
        # One caller id per step: each step is a caller of its own, within the default per-caller quota.
        step = [*cli, "--caller-id", f"demo-step-{index}", *cmd]
        if cmd is HISTORY:
            _run_shown(step, env, limit=8, name="playerstats")
        elif cmd is WATCH:
            _watch_a_match(step, env, sim_url)
        else:
            subprocess.run(step, env=env, check=False)
        if index == 0:
            _print_trace(receiver, "/StreamPlayerStats")
        if "lobby" in cmd:
            calls = _admin(sim_url, "counts")["profile"] - profiles_before
            print(f"   (GetPlayerSummaries calls for this lobby: {calls})", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("player", nargs="?", default="demo", help="player to stream (default: the vanity 'demo')")
    parser.add_argument(
        "--steam-503s", type=int, default=1, help="503 answers to the first profile requests (default 1: a retry)"
    )
    args = parser.parse_args(argv)
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="playerstats-demo-") as data_dir:
        sim_cmd = [
            _bin("playerstats-steam-sim"),
            "--port",
            "0",
            "--latency",
            "stats=0.05",
            "--latency",
            "achievements=0.4",
            "--latency",
            "profile=0.02",
            "--latency",
            "vanity=0.01",
        ]
        with (
            _process(sim_cmd, env, re.compile(r"listening on (http://\S+)")) as (sim,),
            running_receiver() as receiver,
        ):
            server_env = _server_env(env, sim.group(1), data_dir, receiver.endpoint)
            server_cmd = [_bin("playerstats-server")]
            ready = (re.compile(r"listening on port (\d+)"), re.compile(r"Connect \(JSON/HTTP\) on port (\d+)"))
            with _process(server_cmd, server_env, *ready) as (server, http):
                target = f"127.0.0.1:{server.group(1)}"
                _inject_503s(sim.group(1), args.steam_503s)
                _slow_stats(sim.group(1), SLOW_PLAYER, 1.0)
                _run_steps([_bin("playerstats"), "--target", target], env, sim.group(1), receiver, args.player)
                _http_face(http.group(1), target, env)
                print(
                    f"\nserver was at {target} (gRPC) and http://127.0.0.1:{http.group(1)} (Connect JSON/HTTP); "
                    f"Steam simulator at {sim.group(1)}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
