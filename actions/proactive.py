"""未诉先办 in chat: staff approve a proposed case with the button under its notice."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import entity, reporter, store
from bot.core.errors import UserError
from bot.people import roster
from bot.staff import commands


class ActionProactiveApprove(Action):
    """Staff only (the role is checked on every tap); the same work as "/未诉先办 批准 编号"."""

    def name(self) -> Text:
        return "action_proactive_approve"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        member = roster.authorize(*reporter(tracker), store().engine)
        if member is None:
            dispatcher.utter_message(response="utter_staff_refused")
            return []
        try:
            response, params = commands.run_command(store(), member, "proactive",
                                                    f"批准 {entity(tracker, 'proactive_id') or ''}".strip(), True)
        except UserError as error:
            dispatcher.utter_message(text=error.user_message)
            return []
        dispatcher.utter_message(response=response, **params)
        return []
