"""The one error type that reaches the user as a single clear line."""


class VosbenchError(Exception):
    """Bad input or a failed step. The message names the file and what to do.

    The CLI prints it as one line and exits non-zero; library callers can catch it.
    """
