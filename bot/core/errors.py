"""What Linli refuses, and how it says so; and the one failure that means "try again later".

Every module's refusals (a ticket that is not yours, a nudge time in the night, a broadcast that
reaches nobody) are a ``UserError``: the request changed nothing, ``str(error)`` is for logs, and
``user_message`` is the plain Chinese the resident, rider or staff member reads, whichever way they
came (chat, command line).
"""
from __future__ import annotations


class UserError(ValueError):
    user_message = "这个操作没法完成。"

    def __init__(self, detail: str = "", user_message: str | None = None) -> None:
        super().__init__(detail or user_message or self.user_message)
        if user_message:
            self.user_message = user_message


class PlainUserError(UserError):
    """A refusal whose words are the whole story (no separate detail for the logs)."""

    def __init__(self, user_message: str) -> None:
        super().__init__(user_message, user_message)


class RetryLater(Exception):
    """A job could not finish for a reason expected to pass (a delivery failed); the scheduler tries
    it again later, as it does after any error, but logs it without a traceback."""
