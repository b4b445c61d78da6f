"""The one exception type users see for bad input."""


class InputError(ValueError):
    """Bad input: the message names the problem and how to fix it."""
