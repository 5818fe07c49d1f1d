"""``python -m social_warehouse.quality``: maintain the GX project and run a gate by hand.

    sync                        add validation definitions / checkpoints for new suites
    check                       exit 1 if the committed project is out of sync with its suites
    gate STAGE DB --ds YYYY-MM-DD [--run-id ID] [--thresholds FILE] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m social_warehouse.quality")
    parser.add_argument("--expectations-dir", type=Path, default=None)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("sync")
    sub.add_parser("check")
    gate = sub.add_parser("gate")
    gate.add_argument("stage")
    gate.add_argument("db", type=Path)
    gate.add_argument("--ds", required=True)
    gate.add_argument("--run-id", default=None)
    gate.add_argument("--thresholds", type=Path, default=None)
    gate.add_argument("--data-dir", type=Path, default=None)
    args = parser.parse_args(argv)

    if args.command in ("sync", "check"):
        import shutil
        import tempfile

        from .gx_project import sync_project

        if args.command == "sync":
            changed = sync_project(args.expectations_dir)
            print("\n".join(changed) or "in sync")
            return 0
        from ..config import get_settings

        src = args.expectations_dir or get_settings().expectations_dir
        with tempfile.TemporaryDirectory() as tmp:
            shutil.copytree(src / "gx", Path(tmp) / "gx",
                            ignore=shutil.ignore_patterns("uncommitted"))
            changed = sync_project(Path(tmp))
        if changed:
            print("out of sync, run `python -m social_warehouse.quality sync`:\n  "
                  + "\n  ".join(changed))
            return 1
        print("in sync")
        return 0

    from .gate import run_gate
    from .result import GateFailed

    try:
        result = run_gate(
            args.stage, args.db, ds=args.ds, run_id=args.run_id or f"manual__{args.ds}",
            config_path=args.thresholds, data_dir=args.data_dir,
            expectations_dir=args.expectations_dir,
        )
    except GateFailed as exc:
        print(exc, file=sys.stderr)
        return 1
    print(result.message())
    return 0


if __name__ == "__main__":
    sys.exit(main())
