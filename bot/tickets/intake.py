"""Which report a confirmation belongs to: the key that makes filing a ticket idempotent.

A report is one run of the report form, and Rasa records the moment each run starts (its
``active_loop`` event) in the tracker. That moment is the same in every retry of the confirming
turn, on any Rasa process, whether the first attempt's reply or its tracker was lost, and it
differs for the next report the same resident starts.
"""
from __future__ import annotations

from typing import Any, Iterable, Mapping, Optional


def intake_key(events: Iterable[Mapping[str, Any]], form: str) -> Optional[str]:
    """``<form>@<start time>`` of the latest run of ``form`` in the tracker's events; None when the
    tracker shows no start (the ticket is then filed without idempotency, as before)."""
    started = next((e for e in reversed(list(events or ()))
                    if e.get("event") == "active_loop" and e.get("name") == form), None)
    timestamp = started.get("timestamp") if started else None
    return f"{form}@{float(timestamp):.6f}" if timestamp is not None else None
