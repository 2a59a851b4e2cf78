"""Staff commands ("/工单 列表 逾期", "/办结 GD202611220007 已修好"), read by rule, never by the model.

A command changes tickets or messages thousands of people, so what it means must not depend on a
classifier's mood: a message that starts with "/" and a command word is the intent
``staff_command`` (broadcasts: their own intents) with the entities ``command`` (the canonical
name) and ``command_args`` (the rest, verbatim), whatever the statistical model thought; "/通知 望园社区
明天停水" is never a resident's complaint about water. Whether the sender may use it is checked by the action on every call, not here.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Optional, Text

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.nlu.constants import ENTITIES, INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message

INTENT_NAME = "staff_command"
#: Canonical command -> the words that name it after "/". Latin words are what Telegram shows as
#: commands; staff type the Chinese ones. No word may be a Rasa intent name ("/help" is one).
COMMANDS: dict[str, tuple[str, ...]] = {
    "list": ("工单列表", "列表", "查工单", "list", "tickets"),
    "show": ("查看", "详情", "show"),
    "start": ("接单", "accept"),
    "assign": ("改派", "派单", "转派", "assign"),
    "note": ("备注", "进展", "note"),
    "resolve": ("办结", "resolve"),
    "reopen": ("重办", "重新办理", "reopen"),
    "merge": ("合并", "merge"),
    "volunteers": ("志愿者", "骑手", "volunteers"),
    "approve": ("批准", "approve"),
    "pause": ("暂停", "pause"),
    "points": ("积分", "points"),
    "callbacks": ("回电", "callbacks"),
    "proactive": ("未诉先办", "主动治理", "proactive"),
    "commands": ("命令", "指令", "commands"),
    "broadcast": ("通知", "广播", "发通知"),
    "broadcast_cancel": ("取消通知", "撤回通知", "停发通知"),
    "console_link": ("登录", "登陆", "工作台", "login"),
}
#: Commands with a dialogue of their own (a preview to confirm, a sign-in link) get their own intent;
#: the others are all ``staff_command``.
OWN_INTENTS = {"broadcast": "broadcast_preview", "broadcast_cancel": "broadcast_cancel", "console_link": "console_link"}
_BROADCAST_ID = re.compile(r"^#?(\d+)$")
#: "/工单" on its own lists tickets; followed by another command word it is that command.
GROUP_WORDS = ("工单", "ticket")
_SLASH = re.compile(r"^\s*[/／]\s*")
_WORDS = sorted(((word, name) for name, words in COMMANDS.items() for word in words), key=lambda p: -len(p[0]))


def _after(text: str, word: str) -> Optional[str]:
    """What follows ``word`` at the start of ``text``; a Latin word must end there ("/listing" is
    not "/list"), a Chinese one need not ("/办结GD…")."""
    if text[:len(word)].lower() != word.lower():
        return None
    rest = text[len(word):]
    if word.isascii() and rest[:1].isascii() and (rest[:1].isalnum() or rest[:1] == "_"):
        return None
    return rest.strip()


def _word(text: str) -> Optional[tuple[str, str]]:
    return next(((name, rest) for word, name in _WORDS if (rest := _after(text, word)) is not None), None)


def parse_command(text: Optional[str]) -> Optional[tuple[str, str]]:
    """``(command, arguments)`` for a staff command, else None."""
    slash = _SLASH.match(text or "")
    if not slash:
        return None
    body = (text or "")[slash.end():].strip()
    for group in GROUP_WORDS:
        rest = _after(body, group)
        if rest is not None:
            return _word(rest) or ("list", rest)
    return _word(body)


def is_command_name(name: str) -> bool:
    """For channels that see "/word" as a platform command (Telegram): is it one of ours?"""
    return parse_command(f"/{name}") is not None


def _entity(name: str, value: str, text: str) -> dict:
    start = text.rfind(value)
    return {"entity": name, "value": value, "start": start, "end": start + len(value), "confidence_entity": 1.0}


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class StaffCommandRecognizer(GraphComponent):
    """Last in the pipeline: a staff command overrides whatever came before, entities included
    (a ticket id or phone in the arguments must not fill a resident's form slots)."""

    @classmethod
    def create(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
               execution_context: ExecutionContext) -> "StaffCommandRecognizer":
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            parsed = parse_command(message.get(TEXT))
            if parsed is None:
                continue
            command, arguments = parsed
            text = message.get(TEXT) or ""
            found = [{"entity": "command", "value": command, "start": 0, "end": len(text), "confidence_entity": 1.0}]
            if arguments:
                found.append(_entity("command_args", arguments, text))
            broadcast_id = _BROADCAST_ID.match(arguments) if command == "broadcast_cancel" else None
            if broadcast_id:
                found.append(_entity("broadcast_id", broadcast_id.group(1), text))
            intent = {"name": OWN_INTENTS.get(command, INTENT_NAME), "confidence": 1.0}
            message.set(INTENT, intent, add_to_output=True)
            message.set("intent_ranking", [intent], add_to_output=True)
            message.set(ENTITIES, [{**e, "extractor": self.__class__.__name__} for e in found], add_to_output=True)
        return messages
