"""A button's title typed instead of tapped counts as the tap.

People type what they see: "确认发送", "不是，单独登记", "报告隐患", or "只要停水停电的" for the
button 停水停电. Each channel remembers the buttons it last offered a user (``ButtonMemory``, in the
``ShortTermStore``: a day, safe to lose — a lost memory only means the words are read as words) and
hands a message that is one of their titles, give or take the filler words of edge.yml
``typed_choice``, to the dialogue as that button's payload, exactly as a tap would. On WeChat, where
buttons are a numbered list, the number answers too.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from bot.channels.dedup import ShortTermStore
from bot.channels.guard import edge_config
from bot.core.text import words_only


def bare(text: str) -> str:
    """The words of a reply without punctuation, spaces and filler ("只要…的", "…吧")."""
    fillers = edge_config()["typed_choice"]
    said = words_only(text)
    for before in sorted(fillers["before"], key=len, reverse=True):
        if said.startswith(before) and len(said) > len(before):
            said = said[len(before):]
            break
    for after in sorted(fillers["after"], key=len, reverse=True):
        if said.endswith(after) and len(said) > len(after):
            said = said[:-len(after)]
            break
    return said


def chosen(pairs: List[List[str]], text: str, numbers: bool = False) -> Optional[str]:
    """The payload of the button ``text`` names (its title, or its number when ``numbers``)."""
    choice = (text or "").strip()
    if numbers and choice.isdigit() and 1 <= int(choice) <= len(pairs):
        return pairs[int(choice) - 1][1]
    said = bare(choice)
    if not said:
        return None
    return next((payload for title, payload in pairs if title and bare(title) in (said, words_only(choice))),
                None)


class ButtonMemory:
    """The buttons last offered to each user of one channel (``prefix``: the channel and its app)."""

    TTL = 86400.0

    def __init__(self, store: ShortTermStore, prefix: str) -> None:
        self.store = store
        self.prefix = prefix

    def _key(self, user: str) -> str:
        return f"{self.prefix}:buttons:{user}"

    async def offer(self, user: str, buttons: List[Dict[str, Any]]) -> None:
        """Remembers a turn's buttons; a turn without any forgets the last ones."""
        if buttons:
            pairs = [[str(b.get("title") or ""), str(b.get("payload") or b.get("title") or "")] for b in buttons]
            await self.store.put(self._key(user), json.dumps(pairs, ensure_ascii=False), self.TTL)
        else:
            await self.store.delete(self._key(user))

    async def resolve(self, user: str, text: str, numbers: bool = False) -> Optional[str]:
        stored = await self.store.get(self._key(user))
        return chosen(json.loads(stored), text, numbers) if stored else None
