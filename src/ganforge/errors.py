"""The one exception type a user sees as a one-line message (no traceback) from the CLI."""


class GanforgeError(Exception):
    """A user mistake or an unmet precondition: the message names the problem and the fix."""
