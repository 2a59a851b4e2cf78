"""Staff commands in chat ("/工单 列表 逾期", "/办结 GD202611220007 已修好"): the sender's role is
checked on every call, and the work is done by bot/staff.py, as for `linli tickets` and
`linli volunteers`."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import entity, in_group, reporter, store
from bot.core.errors import UserError
from bot.people import roster
from bot.staff import commands


class ActionStaffCommand(Action):
    """Anyone but staff gets a polite refusal and nothing happens."""

    def name(self) -> Text:
        return "action_staff_command"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        member = roster.authorize(*reporter(tracker), store().engine)
        if member is None:
            dispatcher.utter_message(response="utter_staff_refused")
            return []
        command = entity(tracker, "command") or "commands"
        arguments = entity(tracker, "command_args") or ""
        try:
            response, params = commands.run_command(store(), member, command, arguments, private=not in_group(tracker))
        except UserError as error:
            dispatcher.utter_message(text=error.user_message)
            return []
        dispatcher.utter_message(response=response, **params)
        return []
