"""`scripts/demo`: the Steam simulator, the server and the CLI, as three real processes on loopback.

The simulator answers stats after 50 ms and achievements after 400 ms, so the stream visibly delivers the stats
first. Everything runs on the embedded defaults (SQLite under a temporary data directory, in-process state).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

STARTUP_TIMEOUT_SECS = 30.0


def _bin(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise SystemExit(f"demo: {name} is not installed; run scripts/demo from the repository")
    return found


@contextmanager
def _process(cmd: Sequence[str], env: dict[str, str], ready: re.Pattern[str]) -> Iterator[re.Match[str]]:
    """Start `cmd`, wait for a stdout line matching `ready`, stop it with SIGTERM on exit."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            match = ready.search(line)
            if match:
                yield match
                break
        else:
            raise SystemExit(f"demo: {Path(cmd[0]).name} exited before it was ready (code {proc.wait()})")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("player", nargs="?", default="demo", help="player to stream (default: the vanity 'demo')")
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
        with _process(sim_cmd, env, re.compile(r"listening on (http://\S+)")) as sim:
            server_env = env | {
                "STEAM_API_BASE_URL": sim.group(1),
                "STEAM_API_KEY": "sim-key",
                "PLAYERSTATS_LISTEN": "127.0.0.1:0",
                "PLAYERSTATS_DATA_DIR": data_dir,
                "PLAYERSTATS_LOG_LEVEL": env.get("PLAYERSTATS_LOG_LEVEL", "WARNING"),
            }
            server_cmd = [_bin("playerstats-server")]
            with _process(server_cmd, server_env, re.compile(r"listening on port (\d+)")) as server:
                target = f"127.0.0.1:{server.group(1)}"
                cli = [_bin("playerstats"), "--target", target]
                steps = [
                    (
                        f"Streaming {args.player!r}: stats arrive first, achievements when ready",
                        ["stream", args.player],
                    ),
                    ("Resolving a profile URL", ["resolve", "https://steamcommunity.com/id/demo/"]),
                    ("A private profile gets a precise error", ["stream", "private_player"]),
                ]
                for title, cmd in steps:
                    print(f"\n== {title}: playerstats {' '.join(cmd)}", flush=True)
                    subprocess.run([*cli, *cmd], env=env, check=False)
                print(f"\nserver was at {target}; Steam simulator at {sim.group(1)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
