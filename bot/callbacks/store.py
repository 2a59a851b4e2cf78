"""Call-back requests as callers see them."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional


@dataclass(frozen=True)
class CallbackView:
    id: int
    channel: str
    sender_id: str
    phone: Optional[str]
    note: Optional[str]
    created_at: datetime
    expected_by: datetime
    status: str
