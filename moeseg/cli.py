"""The ``moeseg`` command: validate, plan and create batches of segments; list, get, archive.

Built with typer and rich (the ``cli`` extra: ``pip install 'moeseg[cli]'``).
"""

from __future__ import annotations

import typer

import moeseg

__all__ = ["app", "main"]

app = typer.Typer(
    name="moeseg",
    help="Create and manage MoEngage custom segments within the API's quotas.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"moeseg {moeseg.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Create and manage MoEngage custom segments within the API's quotas."""


def main() -> None:
    """Entry point of the ``moeseg`` script and ``python -m moeseg``."""
    app()
