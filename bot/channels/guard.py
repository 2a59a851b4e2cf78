"""The door every message passes: size, and who may speak Rasa's ``/intent{json}`` syntax.

Rasa reads a message that starts with "/" as ``/intent{"entity": "value"}`` with confidence 1.0,
bypassing the model: a user could type any intent of the domain, ``EXTERNAL_…`` ones included,
with entities that fill slots. Only payloads Linli issued itself may use that syntax (a button it
offered, a menu item, a platform command it translated), and never for an ``EXTERNAL_…`` intent,
which only the scheduler's authenticated ``trigger_intent`` may raise. Staff commands ("/办结 GD…")
are plain text read by rule (``bot.nlu.commands``) and pass as typed; the action checks the role.

Every channel calls ``screen`` on what it is about to hand to the dialogue; ``bot.runtime.rasa_server``
applies ``needs_disarming`` once more inside Rasa, so a channel that forgets cannot open the door.
"""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, Optional

import yaml

from bot.channels import Direct, Inbound
from bot.nlu.commands import parse_command

CONFIG = Path(__file__).with_name("edge.yml")
EXTERNAL_PREFIX = "EXTERNAL_"
_SLASH = re.compile(r"^[\s/／]+")
_INTENT = re.compile(r"^\s*[/／]\s*([^{@\s]*)")


@lru_cache(maxsize=1)
def edge_config() -> Dict[str, Any]:
    return yaml.safe_load(CONFIG.read_text(encoding="utf-8"))


def limit(name: str) -> int:
    return int(edge_config()["limits"][name])


def wording(name: str, **values: Any) -> str:
    return str(edge_config()["messages"][name]).format(**values)


def typed_intent(text: str) -> Optional[str]:
    """The intent name ``text`` would set through the slash syntax, or None (staff commands and
    ordinary text set none)."""
    match = _INTENT.match(text or "")
    if not match or parse_command(text) is not None:
        return None
    return match.group(1)


def needs_disarming(text: str, metadata: Optional[Dict[str, Any]]) -> bool:
    """True when ``text`` would set an intent it may not: typed by a user, or ``EXTERNAL_…`` at all."""
    intent = typed_intent(text)
    if intent is None:
        return False
    return intent.startswith(EXTERNAL_PREFIX) or (metadata or {}).get("button") is not True


def disarm(text: str) -> str:
    """The words without the leading slashes: the model reads them like any other message."""
    return _SLASH.sub("", text or "")


def screen(text: str, metadata: Dict[str, Any], issued: bool = False):
    """What the dialogue may hear of a message (``Inbound``), or the channel's own answer
    (``Direct``) when it is too long or an issued payload names an ``EXTERNAL_…`` intent.
    ``issued`` says the text is a payload Linli itself offered; only then is ``button`` set."""
    longest = limit("max_text_chars")
    if len(text or "") > longest:
        return Direct(wording("too_long", limit=longest))
    metadata = {key: value for key, value in metadata.items() if key != "button"}
    if issued:
        if (typed_intent(text) or "").startswith(EXTERNAL_PREFIX):
            return Direct(wording("button_expired"))
        return Inbound(text, {**metadata, "button": True})
    return Inbound(disarm(text) if needs_disarming(text, metadata) else text, metadata)


def screen_inbound(inbound: Inbound):
    """``screen`` for a message a platform channel built itself: its own ``button`` flag says
    whether the text is a payload it issued (the flag never comes from the platform's data)."""
    heard = screen(inbound.text, inbound.metadata, issued=inbound.metadata.get("button") is True)
    if isinstance(heard, Inbound):
        heard.silent = inbound.silent
    return heard
