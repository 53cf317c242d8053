"""The benchmark cannot rot: its driver runs end to end in a tiny configuration (`--smoke`, a few calls per row).

No timing is asserted (the benchmark is not a test); only that the one table has its six rows, each with numbers.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ROW = re.compile(r"^\| (\d) \| (.+?) \| (.+?) \| (.+?) \| (.+?) \| (.+?) \|$")


@pytest.mark.timeout(180)
def test_smoke_run_prints_the_six_rows_with_numbers() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=170,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    rows = [match for line in done.stdout.splitlines() if (match := ROW.match(line))]
    assert [int(row[1]) for row in rows] == [1, 2, 3, 4, 5, 6], done.stdout
    for row in rows:
        measured, verdict = row[3], row[6]
        assert re.search(r"\d+(\.\d+)?", measured), row[0]
        assert verdict.startswith(("met", "**not met**", "n/a")), row[0]
    measured = {int(row[1]): row[3] for row in rows}
    assert re.search(r"c=1: p50 [+-]\d.*c=2: p50 [+-]\d", measured[1])
    assert re.search(r"unary \d+\.\d\d .* stream \d+\.\d\d", measured[3])
    assert re.search(r"p99 \d", measured[5])
    assert re.search(r"VmHWM \d+ MiB", measured[6])
