"""The workbench's sign-in link from chat ("/登录", "登录工作台").

Who may have one is asked of the roster for the channel's sender (the same check as every staff
command), never read from the message; the link itself comes from
:func:`bot.workbench.auth.issue_link`, as ``linli console link`` prints it. A link opens a staff
session, so it is only ever sent in a private chat: in a group anyone could open it first.
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import in_group, reporter, store
from bot.workbench import auth
from bot.workbench.config import get_config


class ActionConsoleLink(Action):
    """Residents and riders hear that the workbench is for staff; nothing is issued for them."""

    def name(self) -> Text:
        return "action_console_link"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        channel, sender_id = reporter(tracker)
        engine = store().engine
        if in_group(tracker):  # whoever asks: a group is never told who is staff, nor given a link
            dispatcher.utter_message(response="utter_console_link_private")
        else:
            try:  # staff, or a handler's contact (their own tickets only)
                url = auth.issue_link(channel, sender_id, engine)
            except auth.SignInError:
                dispatcher.utter_message(response="utter_console_staff_only")
                return []
            dispatcher.utter_message(response="utter_console_link", url=url,
                                     minutes=f"{get_config().link_valid_minutes:g}")
        return []
