"""``python -m moeseg``: the ``moeseg`` command (needs the ``cli`` extra)."""

from moeseg.cli import main

if __name__ == "__main__":
    main()
