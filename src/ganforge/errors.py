"""The one exception type a user sees as a one-line message (no traceback) from the CLI."""


class GanforgeError(Exception):
    """A user mistake or an unmet precondition: the message names the problem and the fix."""


def check_count(flag: str, value: int, most: int, least: int = 1) -> None:
    """A count flag in [least, most]: the upper end stops a typo's extra digits from becoming
    an allocation of terabytes (or hours of work) instead of one line."""
    if value < least:
        rule = "a positive integer" if least == 1 else f"at least {least}"
        raise GanforgeError(f"{flag} must be {rule}, got {value}")
    if value > most:
        raise GanforgeError(f"{flag} must be at most {most:,}, got {value}")
