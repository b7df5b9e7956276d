"""Errors the CLI turns into one line and an exit code (Jepsen's codes, see docs/contracts.md)."""

from __future__ import annotations

EXIT_VALID = 0
EXIT_INVALID = 1
EXIT_UNKNOWN = 2
EXIT_BAD_INPUT = 254
EXIT_ENVIRONMENT = 255


class SplitbrainError(Exception):
    """Base of errors meant for the user: the message is one line that says what to do."""

    exit_code = EXIT_ENVIRONMENT


class UsageError(SplitbrainError):
    """Bad arguments or bad input (unknown names, malformed specs or files): exit 254."""

    exit_code = EXIT_BAD_INPUT


class EnvironmentFailure(SplitbrainError):
    """The harness or its environment failed (a node never came up, a fault did not apply): 255."""

    exit_code = EXIT_ENVIRONMENT
