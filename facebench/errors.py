"""The base of facebench's own errors: a wrong input the user can fix, reported in one line."""


class FacebenchError(Exception):
    """An error caused by the user's input (a card, a file, a name); the CLI prints its message."""
