"""Exception types shared by the CLI and the service."""

__all__ = ["InputError"]


class InputError(ValueError):
    """Bad user input, detected before any work is submitted.

    The CLI prints the message on one line and exits with status 2.
    """
