"""Refusals of broadcast requests."""
from __future__ import annotations

from bot.core.errors import PlainUserError

# -- errors --------------------------------------------------------------------------------------

class BroadcastError(PlainUserError):
    """A broadcast that cannot be made or changed."""
