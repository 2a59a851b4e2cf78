"""The words of a progress notice (bot/progress.py decides who hears it and when)."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import directory, entity, recipient, store
from bot.staff.access import resident_view


class ActionTicketUpdate(Action):
    """Said only to the ticket's reporter or a follower: anyone else hears nothing about it."""

    def name(self) -> Text:
        return "action_ticket_update"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        channel, sender_id = recipient(tracker)
        ticket = resident_view(store(), store().get(entity(tracker, "ticket_id") or ""), channel, sender_id)
        if ticket is None:
            return []
        service = directory().service
        step, note = entity(tracker, "update") or "note", entity(tracker, "update_note")
        response = "utter_ticket_update"
        if step == "resolved":  # only the reporter is followed up (回访): a follower is promised no question
            follower = ticket.reporter_id != sender_id
            response = "utter_ticket_update_resolved_follower" if follower else "utter_ticket_update_resolved"
        dispatcher.utter_message(response=response, ticket_id=ticket.id, handler=ticket.handler_name,
                                 category=service.categories[ticket.category].label,
                                 step=service.event_labels.get(step, service.event_labels["note"]),
                                 detail=f"（{note}）" if note else "")
        return []
