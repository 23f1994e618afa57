"""``python -m moeseg.sandbox --port N``: serve a sandbox on loopback until Ctrl-C."""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import Sequence

from ._config import SandboxConfig
from ._faults import DropConnection, FaultConfig, FaultRule, ServerErrorFault
from ._serve import serve_forever

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m moeseg.sandbox",
        description="Serve a local MoEngage-compatible sandbox (v3, v2 and legacy CSV APIs).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port (0: any free port)")
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="multiply every quota window's length (0.01: a day of quota in 14.4 minutes)",
    )
    parser.add_argument(
        "--error-rate", type=float, default=0.0, help="probability of a 5xx answer per request"
    )
    parser.add_argument(
        "--drop-rate",
        type=float,
        default=0.0,
        help="probability of dropping the connection after processing a request",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the fault RNG")
    args = parser.parse_args(argv)
    rules: list[FaultRule] = []
    if args.error_rate:
        rules.append(ServerErrorFault(status=503, probability=args.error_rate))
    if args.drop_rate:
        rules.append(DropConnection(probability=args.drop_rate))
    config = SandboxConfig(
        time_scale=args.time_scale, faults=FaultConfig(tuple(rules), seed=args.seed)
    )
    with contextlib.suppress(KeyboardInterrupt):
        serve_forever(args.host, args.port, config)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
