"""The one error a real-runtime test run stops a file for."""


class RuntimeFailure(RuntimeError):
    """The runtime under test died, refused an input or did not settle in time; the
    message says which and carries the end of its log."""
