"""`calendar-scaler serve`, bound to 127.0.0.1 only (the command binds every interface).

    python -m bench.serve_local --calendar NAME=FILE ... --grpc-port P --http-port Q

The same code path as the command (scaler.app.run with the options cmd_serve builds),
in its own process, so the benchmarks measure the real server's start-up, memory and answers
without exposing it beyond the loopback interface.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calendar", action="append", default=[], metavar="NAME=PATH_OR_URL")
    parser.add_argument("--grpc-port", type=int, required=True)
    parser.add_argument("--http-port", type=int, required=True)
    parser.add_argument("--state-dir")
    parser.add_argument("--refresh", type=float, default=60.0, help="seconds")
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)

    from pathlib import Path

    from scaler.sources import forkserver

    forkserver.start()  # as `serve` does: the parser process starts while the server imports
    from scaler.app import ServeOptions, run
    from scaler.cli import example_calendar

    return run(
        ServeOptions(
            calendars=list(args.calendar),
            example=example_calendar(),
            host="127.0.0.1",
            grpc_port=args.grpc_port,
            http_port=args.http_port,
            state_dir=Path(args.state_dir) if args.state_dir else None,
            refresh=args.refresh,
            log_level=args.log_level,
        )
    )


if __name__ == "__main__":
    raise SystemExit(main())
