"""Linli's messaging channels: Telegram (python-telegram-bot), WeChat Official Account and WeChat Work.
May import: bot.config, bot.nlu, bot.core.

Each channel is a Rasa custom connector configured in ``credentials.yml`` by class path
(``bot.channels.rest.RestInput``, Linli's REST channel, is added by ``linli`` itself when
``LINLI_REST`` is on):
``bot.channels.telegram.TelegramInput`` (routes under ``/webhooks/linli_telegram/``),
``bot.channels.wechat.WeChatInput`` (``/webhooks/wechat/``) and ``bot.channels.wecom.WeComInput``
(``/webhooks/wecom/``). ``credentials.example.yml`` documents every key.

Message metadata
----------------
Channels tell the dialogue what the text alone cannot through ``UserMessage.metadata``; actions read
it as ``tracker.latest_message["metadata"]``. Keys (absent when they do not apply):

``platform``      ``"telegram"`` | ``"wechat"`` | ``"wecom"``.
``chat_type``     ``"private"`` or ``"group"``. In a group nothing personal may be said back: no
                  phone number, room number or ticket details (the Telegram channel also enforces
                  this on the way out).
``private_link``  Telegram groups: deep link (``https://t.me/<bot>?start=report``) that opens a
                  private chat with the bot; offer it instead of taking a complaint in the group.
``photo``         Platform file id of a picture the user sent: Telegram ``file_id`` of the largest
                  size, WeChat ``media_id``. Store it on the ticket.
``photo_url``     WeChat only: the temporary ``PicUrl`` of that picture.
``location``      ``{"latitude": float, "longitude": float}`` plus ``"label"`` (WeChat's address text)
                  when the user shared a map location.
``event``         WeChat events: ``"subscribe"`` (the text is ``/greet``), ``"unsubscribe"`` (the
                  text is ``/unsubscribe_notices``; replies are dropped, the user can no longer read
                  them), ``"menu"`` (a menu click; the text is the menu item's payload).
``scene``         WeChat: the QR-code scene of a ``subscribe`` by scanning (e.g. a community code).
``voice``         WeChat: ``True`` when the text is the platform's recognition of a voice message.
``button``        ``True`` when the text is a payload Linli issued: a button it offered (Telegram
                  callback data it signed, WeChat's remembered menu of numbers, REST payloads it
                  offered that conversation), a menu click, an event or a command it translated.
                  Only such texts may use Rasa's ``/intent{json}`` syntax, never for ``EXTERNAL_…``
                  intents (``bot.channels.guard``, applied by every channel and again inside Rasa).
``command``       Telegram: the slash command the text came from (``"report"``, ``"status"`` ...).
``role``          ``"staff"`` for WeChat Work app users (community staff).
``message_id``    The platform's id of the incoming message, for tracing.

A photo or location without words arrives with the text ``PHOTO_TEXT`` / ``LOCATION_TEXT`` below
so the dialogue can tell them apart from typed messages.

Conversation ids and proactive messages
---------------------------------------
``POST /conversations/<id>/trigger_intent?output_channel=<name>`` reaches a user through
``linli_telegram``, ``wechat`` or ``wecom`` (or ``latest``). Ids: Telegram private chat = user id;
a group member = ``"<group id>:<user id>"`` (replies in the group during a turn, proactive messages
to the member privately); a Telegram group itself = its negative id. WeChat = the openid; WeChat
Work = the staff user id, or ``"robot:<name>"`` for a resident group's robot.
"""

import logging
from dataclasses import dataclass
from typing import Any, Dict, Optional

PHOTO_TEXT = "[图片]"
LOCATION_TEXT = "[位置]"


@dataclass
class Inbound:
    """What the dialogue hears, the facts beside it, and whether its answer can reach the user."""

    text: str
    metadata: Dict[str, Any]
    silent: bool = False


@dataclass
class Direct:
    """An answer a channel gives itself, without the dialogue (optionally with one link button)."""

    text: str
    link_button: Optional[tuple[str, str]] = None


def known_keys(settings_class, credentials: dict, channel: str) -> dict:
    """The credentials a settings dataclass takes; a misspelt key is reported, not silently lost."""
    fields = settings_class.__dataclass_fields__
    unknown = sorted(set(credentials) - set(fields))
    if unknown:
        logging.getLogger(__name__).warning("credentials.yml: unknown %s keys ignored: %s", channel,
                                            ", ".join(unknown))
    return {key: value for key, value in credentials.items() if key in fields}
