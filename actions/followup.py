"""Proactive messages and the buttons under them: follow-ups, staff notices, rider nudges.

The scheduler (bot/scheduler.py) triggers EXTERNAL_… intents; these actions say the words, and
record what residents and riders tap through bot/followups.py and bot/nudges.py.
"""
from __future__ import annotations

from typing import Any, Dict, List, Optional, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import directory, entity, latest_intent, local_time, message_metadata, recipient, reporter, store
from bot.callbacks import store as callbacks
from bot.channels import PHOTO_TEXT
from bot.config.policy import get_policy
from bot.config.service import wording
from bot.core.settings import get_settings
from bot.people import roster
from bot.proactive.notices import proactive_notice
from bot.staff.access import handler_contact_view, is_staff, resident_view, staff_view
from bot.tickets.errors import TicketError
from bot.volunteers import nudges
from bot.workflows import followups, notices, supervision

_COMMENT_TITLE = "补充意见"


def _comment_button(ticket_id: str) -> list[dict]:
    return [{"title": _COMMENT_TITLE, "payload": f'/followup_comment{{"ticket_id":"{ticket_id}"}}'}]


class ActionFollowupAsk(Action):
    """The follow-up question (or its one reminder) with one-tap answers, only in the conversation of
    someone the ticket belongs to."""

    def name(self) -> Text:
        return "action_followup_ask"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        ticket = resident_view(store(), store().get(entity(tracker, "ticket_id") or ""), *recipient(tracker))
        if ticket is None:
            return []
        buttons = followups.answer_buttons(ticket.id, followups.SOLVED_ANSWERS)
        category = directory().service.categories[ticket.category].label
        if entity(tracker, "reminder"):
            dispatcher.utter_message(response="utter_followup_reminder", buttons=buttons, ticket_id=ticket.id,
                                     category=category)
        else:
            again = "重新办理后" if int(entity(tracker, "followup_round") or 1) > 1 else ""
            dispatcher.utter_message(response="utter_followup_ask", buttons=buttons, ticket_id=ticket.id,
                                     category=category, handler=ticket.handler_name, again=again,
                                     reported=local_time(ticket.created_at)[:-5])
        return [SlotSet("ticket_id", ticket.id)]


class ActionFollowupAnswer(Action):
    """Records a tapped answer; the next question, or what happens to the ticket now."""

    def name(self) -> Text:
        return "action_followup_answer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        channel, sender_id = reporter(tracker)
        try:
            answer = followups.record_answer(store(), entity(tracker, "ticket_id") or "", channel, sender_id,
                                             entity(tracker, "followup_result") or "")
        except TicketError as error:
            dispatcher.utter_message(text=error.user_message)
            return []
        return _say_answer(dispatcher, answer)


def typed_followup_answer(dispatcher: CollectingDispatcher, tracker: Tracker) -> Optional[List[Dict[Text, Any]]]:
    """A follow-up answered in words ("没解决，昨天下雨又滴了") counts as the buttons do, and the
    words go onto the ticket as the resident's comment first, so the supervision notice carries
    them. None when no follow-up waits for this sender or the words answer nothing."""
    channel, sender_id = reporter(tracker)
    awaiting = followups.awaiting_answer(store(), channel, sender_id)
    if awaiting is None:
        return None
    text = ((tracker.latest_message or {}).get("text") or "").strip()
    service = directory().service
    answers = followups.typed_answers(text, latest_intent(tracker), awaiting.question, service.typed_answers)
    if not answers:
        return None
    try:
        if not followups.is_bare_answer(text, service.typed_answers, service.answer_labels):
            followups.add_comment(store(), awaiting.ticket_id, channel, sender_id, text)
        for given in answers:
            answer = followups.record_answer(store(), awaiting.ticket_id, channel, sender_id, given)
    except TicketError as error:
        dispatcher.utter_message(text=error.user_message)
        return []
    return _say_answer(dispatcher, answer)


def _say_answer(dispatcher: CollectingDispatcher, answer: followups.Answer) -> List[Dict[Text, Any]]:
    """The next question, or what happens to the ticket now."""
    ticket = answer.ticket
    if answer.next == "ask_satisfaction":
        reopened = ticket.status == "reopened"  # "没解决" reopened it at once: say so
        dispatcher.utter_message(response="utter_ask_followup_satisfaction_reopened" if reopened
                                 else "utter_ask_followup_satisfaction",
                                 ticket_id=ticket.id, handler=ticket.handler_name,
                                 buttons=followups.answer_buttons(ticket.id, followups.SATISFACTION_ANSWERS))
    elif answer.next == "ask_solved":
        dispatcher.utter_message(response="utter_followup_solved_first", ticket_id=ticket.id,
                                 buttons=followups.answer_buttons(ticket.id, followups.SOLVED_ANSWERS))
    elif answer.next == "closed":
        dispatcher.utter_message(response="utter_followup_closed", ticket_id=ticket.id,
                                 buttons=_comment_button(ticket.id))
    else:
        failed = followups.failed_rounds(store().engine, ticket.id)
        supervisor = supervision.supervisor_name(get_policy(), directory().street, ticket, failed)
        dispatcher.utter_message(response="utter_followup_reopened", ticket_id=ticket.id,
                                 handler=ticket.handler_name, supervisor=supervisor,
                                 deadline=local_time(ticket.deadline), buttons=_comment_button(ticket.id))
    return [SlotSet("ticket_id", ticket.id)]


class ActionFollowupComment(Action):
    """A comment or photo after a follow-up answer, onto the ticket."""

    def name(self) -> Text:
        return "action_followup_comment"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        channel, sender_id = reporter(tracker)
        text = tracker.get_slot("followup_comment") or ""
        photo = message_metadata(tracker).get("photo")
        try:
            ticket = followups.add_comment(store(), tracker.get_slot("ticket_id") or "", channel, sender_id,
                                           "" if text == PHOTO_TEXT else text, photo)
        except TicketError as error:
            dispatcher.utter_message(text=error.user_message)
        else:
            dispatcher.utter_message(response="utter_followup_comment_thanks", ticket_id=ticket.id)
        return [SlotSet("followup_comment", None)]


HANDLER_NOTICES = ("due_soon", "whistle")  # staff notices a handler's own contacts get as well


class ActionStaffNotice(Action):
    """Due-soon reminders, whistles, supervision notices, call-backs, proactive proposals and the
    digest, worded from the ticket (or request, or case) as it is when the notice goes out, and only
    to staff who may see it (anyone else hears nothing)."""

    def name(self) -> Text:
        return "action_staff_notice"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        if not self._for_recipient(tracker):
            return []
        try:
            if entity(tracker, "notice") == "proactive":
                response, params = proactive_notice(store(), entity(tracker, "season") or "",
                                                    entity(tracker, "season_start") or "", entity(tracker, "community") or "")
            else:
                response, params = notices.staff_notice(
                    store(), entity(tracker, "notice") or "", get_settings().timezone, entity(tracker, "ticket_id"),
                    entity(tracker, "as_of"), entity(tracker, "followup_round"), entity(tracker, "callback_id"))
        except TicketError as error:
            dispatcher.utter_message(text=f"（通知未能生成：{error.user_message}）")
            return []
        dispatcher.utter_message(response=response, **params)
        return []

    @staticmethod
    def _for_recipient(tracker: Tracker) -> bool:
        """The digest to staff; a ticket's notice to staff who may see that ticket (due-soon and
        whistle to its handler's contacts too); a call-back's or a season's proposals to staff who
        serve that community."""
        notice = entity(tracker, "notice")
        if notice == "digest":
            return is_staff(store(), *recipient(tracker))
        if notice in ("callback", "callback_overdue", "proactive"):
            member = roster.authorize_recipient(*recipient(tracker), store().engine)
            if notice == "proactive":
                return member is not None and member.serves(entity(tracker, "community"))
            request = callbacks.get(store(), entity(tracker, "callback_id"))
            return member is not None and request is not None and (not member.communities or
                                                                   member.serves(request.community))
        ticket = store().get(entity(tracker, "ticket_id") or "")
        if notice in HANDLER_NOTICES and handler_contact_view(ticket, *recipient(tracker)) is not None:
            return True
        return staff_view(store(), ticket, *recipient(tracker)) is not None


class ActionPatrolNudge(Action):
    def name(self) -> Text:
        return "action_patrol_nudge"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        area, kind = entity(tracker, "community") or directory().street, entity(tracker, "nudge")
        response = {"flood": "utter_flood_nudge", "proactive": "utter_proactive_nudge"}.get(kind, "utter_patrol_nudge")
        dispatcher.utter_message(response=response, area=area, note=entity(tracker, "nudge_note") or "", buttons=[
            {"title": wording("buttons", "nudge_all_clear"), "payload": "/patrol_all_clear"},
            {"title": wording("buttons", "nudge_report"), "payload": "/report_issue"},
            {"title": wording("buttons", "nudge_pause", days=get_policy().nudge_pause_days), "payload": "/nudge_pause"},
            {"title": wording("buttons", "nudge_stop"), "payload": "/nudge_stop"}])
        return []


class ActionNudgeSettings(Action):
    """Pause or stop a rider's nudges from the buttons under one."""

    def name(self) -> Text:
        return "action_nudge_settings"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        channel, sender_id = reporter(tracker)
        now, engine = store().clock(), store().engine
        intent = (tracker.latest_message or {}).get("intent", {}).get("name")
        try:
            if intent == "nudge_stop":
                nudges.unsubscribe(engine, channel, sender_id, now)
                dispatcher.utter_message(response="utter_nudge_stopped")
            else:
                paused = nudges.pause(engine, get_policy(), channel, sender_id, now)
                dispatcher.utter_message(response="utter_nudge_paused", until=local_time(paused.paused_until))
        except nudges.NudgeError as error:
            dispatcher.utter_message(text=error.user_message)
        return []
