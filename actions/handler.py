"""The handler's side in chat: the dispatch notice and its buttons 签收 / 退回 / 反馈 and interim notes.

Who may act is asked of the handlers file on every call (bot/handlers): the identity is the channel
and sender id the platform verified. The 反馈 resolves the ticket and plans its follow-up exactly as
`linli tickets resolve` does (bot.staff.tickets).
"""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import directory, entity, local_time, message_metadata, reporter, store
from bot.channels import PHOTO_TEXT
from bot.config.service import wording
from bot.core.db import session_scope
from bot.core.errors import UserError
from bot.handlers import work
from bot.handlers.models import ExtensionRequest
from bot.handlers.policy import handler_policy
from bot.people import roster
from bot.staff import tickets as staff_tickets
from bot.staff.access import handler_contact_view
from bot.tickets.views import place


def notice_buttons(ticket_id: str) -> list[dict]:
    return [{"title": wording("buttons", "handler_accept"), "payload": f'/handler_accept{{"ticket_id":"{ticket_id}"}}'},
            {"title": wording("buttons", "handler_return"), "payload": f'/handler_return{{"ticket_id":"{ticket_id}"}}'},
            {"title": wording("buttons", "handler_report"), "payload": f'/handler_report{{"ticket_id":"{ticket_id}"}}'}]


def working_buttons(ticket_id: str) -> list[dict]:
    """Under a signed ticket: the interim notes of service.yml, and 反馈."""
    return [{"title": n.button, "payload": f'/handler_progress{{"ticket_id":"{ticket_id}","progress_note":"{n.code}"}}'}
            for n in handler_policy().progress_notes.values()] + [
        {"title": wording("buttons", "handler_extend"), "payload": f'/handler_extend{{"ticket_id":"{ticket_id}"}}'}] + notice_buttons(ticket_id)[2:]


class ActionHandlerNotice(Action):
    """The dispatch notice, worded from the ticket as it is when it goes out; the full phone number
    only in the conversation of a contact of the ticket's handler."""

    def name(self) -> Text:
        return "action_handler_notice"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        ticket = store().get(entity(tracker, "ticket_id") or "")
        if ticket is None:
            return []
        if handler_contact_view(ticket, tracker.get_latest_input_channel(), tracker.sender_id) is None:
            dispatcher.utter_message(response="utter_handler_notice_refused")
            return []
        service = directory().service
        sign_by = store().clock() + handler_policy().sign_for_limit(ticket.deadline_class)
        location = (f"\n位置：{ticket.latitude:.5f},{ticket.longitude:.5f}"
                    if ticket.latitude is not None and ticket.longitude is not None else "")
        dispatcher.utter_message(
            response="utter_handler_notice", buttons=notice_buttons(ticket.id), ticket_id=ticket.id,
            urgent="（紧急）" if ticket.deadline_class == "emergency" else "", redo="（重办）" if work.is_redo(ticket) else "",
            category=service.categories[ticket.category].label,
            place=place(ticket) + (f"{ticket.room}室" if ticket.room else ""), description=ticket.description,
            phone=ticket.phone or "未留", photos=f"\n照片{len(ticket.photos)}张：{'、'.join(ticket.photos)}" if ticket.photos else "",
            location=location, deadline=local_time(ticket.deadline) if ticket.deadline else "-",
            sign_by=local_time(sign_by))
        return [SlotSet("ticket_id", ticket.id)]


class ActionHandlerAccept(Action):
    def name(self) -> Text:
        return "action_handler_accept"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        try:
            ticket, signed = work.accept(store(), entity(tracker, "ticket_id") or "", *reporter(tracker))
        except UserError as error:
            dispatcher.utter_message(text=error.user_message)
            return []
        dispatcher.utter_message(response="utter_handler_accepted" if signed else "utter_handler_already_accepted",
                                 ticket_id=ticket.id, buttons=working_buttons(ticket.id))
        return [SlotSet("ticket_id", ticket.id)]


class ActionHandlerProgress(Action):
    def name(self) -> Text:
        return "action_handler_progress"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        policy, code = handler_policy(), entity(tracker, "progress_note") or ""
        try:
            ticket = work.progress_note(store(), policy, entity(tracker, "ticket_id") or "", *reporter(tracker), code)
        except UserError as error:
            dispatcher.utter_message(text=error.user_message)
            return []
        dispatcher.utter_message(response="utter_handler_progress_noted", note=policy.progress_notes[code].resident,
                                 buttons=working_buttons(ticket.id))
        return []


class ActionHandlerReturn(Action):
    """退回 with the reason the form asked for."""

    def name(self) -> Text:
        return "action_handler_return"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        try:
            ticket = work.hand_back(store(), handler_policy(), tracker.get_slot("ticket_id") or "",
                                    *reporter(tracker), tracker.get_slot("return_reason") or "")
        except UserError as error:
            dispatcher.utter_message(text=error.user_message)
        else:
            dispatcher.utter_message(response="utter_handler_returned", ticket_id=ticket.id, to=ticket.handler_name)
        return [SlotSet("return_reason", None)]


class ActionAskHandlerReport(Action):
    def name(self) -> Text:
        return "action_ask_handler_report"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        photos = tracker.get_slot("handler_report_photos")
        dispatcher.utter_message(response="utter_handler_report_photo_received" if photos else "utter_ask_handler_report")
        return []


class ValidateHandlerReportForm(FormValidationAction):
    """A photo is kept and the words are still asked for; the words end the form."""

    def name(self) -> Text:
        return "validate_handler_report_form"

    def validate_handler_report(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> Dict[Text, Any]:
        photo = message_metadata(tracker).get("photo")
        if value == PHOTO_TEXT or (photo and not str(value or "").strip()):
            photos = list(tracker.get_slot("handler_report_photos") or [])
            return {"handler_report": None, "handler_report_photos": photos + ([str(photo)] if photo else [])}
        extra = [str(photo)] if photo else []
        return {"handler_report": str(value).strip()[:handler_policy().report_max_chars],
                "handler_report_photos": list(tracker.get_slot("handler_report_photos") or []) + extra}


class ActionHandlerReport(Action):
    """反馈: resolved as `linli tickets resolve` resolves, with the follow-up planned at once."""

    def name(self) -> Text:
        return "action_handler_report"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        channel, sender_id = reporter(tracker)
        photos = list(tracker.get_slot("handler_report_photos") or [])
        done = [SlotSet("handler_report", None), SlotSet("handler_report_photos", None)]
        try:
            ticket, contact = work.open_ticket(store(), tracker.get_slot("ticket_id") or "", channel, sender_id)
            actor = f"{channel}:{sender_id}"
            if photos:
                store().record(ticket.id, actor, "handler_photos", f"{contact.label}现场照片：{'、'.join(photos)}")
            ticket = staff_tickets.act(store(), "resolve", ticket.id, actor, tracker.get_slot("handler_report") or "")
        except UserError as error:
            dispatcher.utter_message(text=error.user_message)
            return done
        staff_tickets.plan(store(), ticket)
        dispatcher.utter_message(response="utter_handler_reported", ticket_id=ticket.id)
        return done


class ValidateHandlerExtensionForm(FormValidationAction):
    def name(self) -> Text:
        return "validate_handler_extension_form"

    def validate_extension_days(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker,
                                domain: DomainDict) -> Dict[Text, Any]:
        try:
            return {"extension_days": str(work.parse_days(value, handler_policy().extension_max_days))}
        except UserError as error:
            dispatcher.utter_message(text=error.user_message)
            return {"extension_days": None}


class ActionHandlerExtend(Action):
    """申请延期 with the days and reason the form asked for; the community's staff decide."""

    def name(self) -> Text:
        return "action_handler_extend"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        done = [SlotSet("extension_days", None), SlotSet("extension_reason", None)]
        try:
            request = work.request_extension(store(), handler_policy(), tracker.get_slot("ticket_id") or "",
                                             *reporter(tracker), tracker.get_slot("extension_days") or "",
                                             tracker.get_slot("extension_reason") or "")
        except UserError as error:
            dispatcher.utter_message(text=error.user_message)
            return done
        ticket = store().get(request.ticket_id)
        dispatcher.utter_message(response="utter_handler_extension_requested", ticket_id=ticket.id,
                                 deadline=local_time(ticket.deadline) if ticket.deadline else "-")
        return done


def _extension(tracker: Tracker):
    try:
        with session_scope(store().engine) as session:
            return session.get(ExtensionRequest, int(entity(tracker, "extension_id") or 0))
    except ValueError:
        return None


class ActionExtensionNotice(Action):
    """The request, to the community's staff, with 同意 / 不同意."""

    def name(self) -> Text:
        return "action_extension_notice"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        request = _extension(tracker)
        ticket = store().get(request.ticket_id) if request else None
        if ticket is None:
            return []
        dispatcher.utter_message(
            response="utter_extension_request", ticket_id=ticket.id, handler=request.handler_name,
            category=directory().service.categories[ticket.category].label, place=place(ticket),
            days=str(request.hours // 24), reason=request.reason,
            deadline=local_time(ticket.deadline) if ticket.deadline else "-",
            buttons=[{"title": title, "payload": f'/extension_decide{{"extension_id":"{request.id}","decision":"{code}"}}'}
                     for title, code in (("同意", "approve"), ("不同意", "refuse"))])
        return []


class ActionExtensionDecide(Action):
    """Only staff serving the ticket's community decide; anyone else is refused and nothing changes."""

    def name(self) -> Text:
        return "action_extension_decide"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        member = roster.authorize(*reporter(tracker), store().engine)
        request = _extension(tracker)
        ticket = store().get(request.ticket_id) if request else None
        if member is None or ticket is None or not member.serves(ticket.community):
            dispatcher.utter_message(response="utter_staff_refused")
            return []
        approve = entity(tracker, "decision") == "approve"
        try:
            ticket = work.decide_extension(store(), request.id, approve, member.actor, decider=reporter(tracker))
        except UserError as error:
            dispatcher.utter_message(text=error.user_message)
            return []
        dispatcher.utter_message(response="utter_extension_decided", ticket_id=ticket.id,
                                 decision="同意" if approve else "不同意",
                                 deadline=local_time(ticket.deadline) if ticket.deadline else "-")
        return []
