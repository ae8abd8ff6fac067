"""Errors that carry a one-line, user-facing message."""


class TutorpulseError(Exception):
    """An expected failure: the CLI prints its message on one line and exits 1."""


class NotFoundError(TutorpulseError):
    def __init__(self, kind: str, identifier: object) -> None:
        super().__init__(f"{kind} {identifier!r} not found")
        self.kind = kind
        self.identifier = identifier
