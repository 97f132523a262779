"""The one exception root of pushcast: every error raised on purpose derives from it, so
a caller (the CLI, a runtime's loop) can tell a reported problem from a bug."""


class PushcastError(Exception):
    """Base of every error pushcast raises on purpose."""
