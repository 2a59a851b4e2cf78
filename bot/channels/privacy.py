"""The last line of group privacy: nothing personal is ever posted into a group chat.

The dialogue already knows when it speaks in a group (``metadata["chat_type"]``) and should say
less there; this check runs on every outgoing group message regardless, so a reply written for a
private chat cannot leak a resident's phone, room or ticket into a group of neighbours. Building
numbers and public hotlines stay allowed: they are what a group asks about.
"""
from __future__ import annotations

import re

from bot.core.text import MASKED_MOBILE, MOBILE_IN_TEXT, TICKET_ID_WRITTEN

_PERSONAL = re.compile(
    "|".join(p.pattern for p in (MOBILE_IN_TEXT, MASKED_MOBILE, TICKET_ID_WRITTEN)) +
    r"|(?<!\d)\d{3,4}\s*(?:室|房间|号房|户)"     # room: 502室
    r"|单元\s*\d{3,4}(?!\d)"                     # room after the unit: 2单元502
    r"|(?<!\d)\d{3,4}\s*号(?![楼院线])",         # room: 502号 (not 12号楼)
    re.IGNORECASE,
)

GROUP_NOTICE = "这件事涉及个人信息，我们私聊说吧，点这里找我：{link}"
GROUP_NOTICE_NO_LINK = "这件事涉及个人信息，请私聊我继续办理。"


def is_personal(text: str) -> bool:
    return bool(_PERSONAL.search(text or ""))


def group_notice(link: str | None) -> str:
    return GROUP_NOTICE.format(link=link) if link else GROUP_NOTICE_NO_LINK
