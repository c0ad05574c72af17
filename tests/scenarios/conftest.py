"""The `openline` command run in-process against a real server, as in tests/cli."""

from tests.cli.conftest import cli  # noqa: F401  (a fixture)
