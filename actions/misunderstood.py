"""Messages from real conversations that the assistant got wrong, kept for the workbench's 没听懂的话
page (bot.workbench.misunderstood): called by the fallback action, which runs whenever the NLU fell
back, the dialogue had no confident next step, or a stray "yes"/"no" came outside any question.

- A message that fell back is kept with the assistant's best guess (the top intent that is not the
  fallback, its confidence, and the category for a complaint).
- A stray "no" that says the last answer was wrong ("不对，我问的不是这个") points at the message
  before it: that one is kept as ``corrected``, with what the assistant had made of it.
- Any other stray "yes"/"no" ("好的", "不用了") was understood; nothing is kept.

Keeping a message must never cost the resident their reply: a database error is logged (without
the text) and the fallback answers as usual.
"""
from __future__ import annotations

import logging
from typing import Optional

from rasa_sdk import Tracker
from sqlalchemy.exc import SQLAlchemyError

from actions.common import latest_intent, reporter, store
from bot.workbench.config import get_config
from bot.workbench.misunderstood import record_misunderstood

log = logging.getLogger(__name__)
FALLBACK_INTENT = "nlu_fallback"
STRAY_INTENTS = ("affirm", "deny")
COMPLAINT_INTENT = "report_issue"
FAQ_INTENT = "faq"


def remember_misunderstood(tracker: Tracker) -> Optional[int]:
    """Keeps what this fallback turn says the assistant did not understand; returns the row's id."""
    intent = latest_intent(tracker)
    recent = _user_events(tracker, 2)
    if intent in STRAY_INTENTS:
        if intent != "deny" or not is_correction(tracker):
            return None
        message, reason = (recent[1] if len(recent) > 1 else None), "corrected"
    else:
        message, reason = (recent[0] if recent else None), "fallback"
    if message is None:
        return None
    parse = message.get("parse_data") or {}
    guessed, confidence = guess(parse)
    category = ((parse.get("category") or {}).get("name")) if guessed == COMPLAINT_INTENT else None
    try:
        return record_misunderstood(*reporter(tracker), message.get("text") or parse.get("text") or "", guessed,
                                    category, confidence, engine=store().engine, reason=reason,
                                    message_id=message.get("message_id"))
    except SQLAlchemyError as error:
        log.warning("misunderstood message not kept (%s)", type(error).__name__)
        return None


def guess(parse: dict) -> tuple[Optional[str], Optional[float]]:
    """The assistant's best guess at a message: the top intent that is not the fallback (with the FAQ
    topic for a question, ``faq/<topic>``, as staff label it) and its confidence."""
    ranking = parse.get("intent_ranking") or [parse.get("intent") or {}]
    top = next((r for r in ranking if r.get("name") and r.get("name") != FALLBACK_INTENT), None)
    if top is None:
        return None, None
    name = top["name"]
    if name == FAQ_INTENT:
        key = ((((parse.get("response_selector") or {}).get(FAQ_INTENT) or {}).get("response") or {})
               .get("intent_response_key"))
        name = key or name
    return name, top.get("confidence")


def is_correction(tracker: Tracker) -> bool:
    """The latest message says the assistant got the one before wrong ("不对，我问的不是这个")."""
    text = (tracker.latest_message or {}).get("text") or ""
    return any(word in text for word in get_config().correction_words)


def _user_events(tracker: Tracker, count: int) -> list[dict]:
    """The latest ``count`` user messages of this session, newest first (a "不对" today says nothing
    about last week's conversation)."""
    found: list[dict] = []
    for event in reversed(tracker.events):
        if event.get("event") == "session_started":
            break
        if event.get("event") == "user":
            found.append(event)
            if len(found) == count:
                break
    return found
