"""Exceptions that carry a message meant for the user."""


class VisauditError(Exception):
    """Base class: the message says what went wrong and what to do."""


class UnknownNameError(VisauditError, KeyError):
    """A registry has no entry of that name."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class DataNotFoundError(VisauditError):
    """A dataset or weight file could not be resolved."""


class LabelSpaceMismatch(VisauditError):
    """A model's outputs do not fit a dataset's labels."""


class UnsafeCheckpointError(VisauditError):
    """A file would need arbitrary unpickling to load."""
