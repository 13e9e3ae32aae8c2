"""The ``consensus`` command line.

Messages go to stderr, tables to the named files (or CSV on stdout). Exit
status: 0 on success, 2 on bad input or parameters (one-line message, no
traceback), 1 on an unexpected failure.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from consensus._version import __version__
from consensus.commands.common import log

#: Subcommand modules, in the order ``consensus --help`` lists them.
COMMANDS = ("audit", "aggregate", "agreement", "validate", "fraud", "redundancy", "boxes")


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="consensus", description="Audit and aggregate human labels.")
    parser.add_argument("--version", action="version", version=f"consensus {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"consensus.commands.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return 2
    from consensus.errors import ConsensusError

    try:
        return int(args.handler(args))
    except ConsensusError as exc:
        log(f"consensus {args.command}: error: {exc}")
        return 2
    except OSError as exc:  # e.g. an output folder that cannot be written
        log(f"consensus {args.command}: error: {exc.strerror or exc}"
             + (f": {exc.filename}" if exc.filename else ""))
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
