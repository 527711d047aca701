"""`python -m ganforge` behaves exactly like the `ganforge` console script."""

from ganforge.cli import run

if __name__ == "__main__":
    raise SystemExit(run())
