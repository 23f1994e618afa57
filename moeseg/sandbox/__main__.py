"""``python -m moeseg.sandbox --port N``: serve a sandbox on loopback until Ctrl-C."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ._serve import serve_command

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and serve until interrupted; the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m moeseg.sandbox",
        description="Serve a local MoEngage-compatible sandbox (v3, v2 and legacy CSV APIs).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (0: any free port)")
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="accept a --host that is not loopback (the sandbox's credentials are public)",
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiply every quota window's length (0.01: a day of quota in 14.4 minutes)",
    )
    parser.add_argument(
        "--error-rate", type=float, default=0.0, help="probability of a 503 answer per request"
    )
    parser.add_argument(
        "--drop-rate",
        type=float,
        default=0.0,
        help="probability of dropping the connection after processing a request",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault RNG")
    args = parser.parse_args(argv)
    return serve_command(
        args.host,
        args.port,
        time_scale=args.time_scale,
        error_rate=args.error_rate,
        drop_rate=args.drop_rate,
        seed=args.seed,
        allow_remote=args.allow_remote,
    )


if __name__ == "__main__":
    raise SystemExit(main())
