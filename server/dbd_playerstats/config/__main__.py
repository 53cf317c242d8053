"""`python -m dbd_playerstats.config`: print the configuration table; `--write FILE` puts it into FILE's markers."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dbd_playerstats.config.table import markdown_table, with_table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dbd_playerstats.config", description="Print the configuration table (markdown)."
    )
    parser.add_argument("--write", type=Path, metavar="FILE", help="replace the table between FILE's markers")
    args = parser.parse_args(argv)
    table = markdown_table()
    if args.write is None:
        sys.stdout.write(table)
        return 0
    try:
        args.write.write_text(with_table(args.write.read_text(encoding="utf-8"), table), encoding="utf-8")
    except (OSError, ValueError) as exc:
        print(f"python -m dbd_playerstats.config: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
