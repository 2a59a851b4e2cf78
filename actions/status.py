"""Progress, feedback and the not-understood path (call-backs: actions/callbacks.py)."""
from __future__ import annotations

from typing import Any, Dict, List, Text

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.broadcast import topic_buttons
from actions.common import directory, entity, in_group, latest_intent, local_time, reporter, store
from actions.followup import typed_followup_answer
from actions.misunderstood import remember_misunderstood
from bot.broadcasts import topics
from bot.broadcasts.topics import topics_of
from bot.config import broadcasts
from bot.config.service import wording
from bot.nlu.address import normalize_ticket_id
from bot.people import profiles
from bot.people.subscriptions import set_subscription
from bot.staff.access import resident_view
from bot.tickets.errors import TicketError
from bot.tickets.masking import masked_words
from bot.tickets.views import TicketView, place

_MAIN_OPTIONS = [dict(option) for option in wording("buttons", "main_menu")]


def status_text(ticket: TicketView) -> str:
    """A ticket as its reporter reads it: status, handler, deadline and the latest step."""
    label = directory().service.status_labels.get(ticket.status, ticket.status)
    category = directory().service.categories[ticket.category].label
    lines = [f"工单 {ticket.id}（{category}）", f"状态：{label}", f"承办：{ticket.handler_name}",
             f"时限：{local_time(ticket.deadline)}前"]
    if ticket.history:
        last = ticket.history[-1]
        service = directory().service
        note = masked_words(last.note) if last.action in service.resident_notes else None  # older notes: unmasked
        lines.append(f"最新：{local_time(last.at)} {note or service.event_labels.get(last.action, last.action)}")
    return "\n".join(lines)


def list_tickets(dispatcher: CollectingDispatcher, channel: str, sender_id: str, page: int) -> List[Dict[Text, Any]]:
    """"我报过几个事？": the sender's tickets (reported or followed), newest first, a page at a time
    with 更多 for the next; one ticket alone is shown in full."""
    ids = store().reported_by(channel, sender_id)
    size = directory().service.ticket_list_page
    page = max(page, 1)
    if not ids:
        dispatcher.utter_message(response="utter_no_tickets")
        return []
    if len(ids) == 1:
        ticket = resident_view(store(), store().get(ids[0]), channel, sender_id)
        dispatcher.utter_message(text=status_text(ticket))
        return [SlotSet("ticket_id", ticket.id)]
    shown = ids[(page - 1) * size:page * size]
    if not shown:
        dispatcher.utter_message(response="utter_ticket_list_end", total=len(ids))
        return []
    first = (page - 1) * size + 1
    lines = [_list_line(first + n, resident_view(store(), store().get(ticket_id), channel, sender_id))
             for n, ticket_id in enumerate(shown)]
    more = [{"title": wording("buttons", "more_tickets"), "payload": f'/check_status{{"list_page":"{page + 1}"}}'}] if len(ids) > page * size else []
    dispatcher.utter_message(response="utter_ticket_list", total=len(ids), first=first, last=first + len(shown) - 1,
                             tickets="\n".join(lines), buttons=more)
    return []


def _list_line(number: int, ticket: TicketView) -> str:
    service = directory().service
    return (f"{number}. {ticket.id} {service.categories[ticket.category].label}｜{place(ticket)}｜"
            f"{service.status_labels.get(ticket.status, ticket.status)}｜{local_time(ticket.created_at)[:-5]}报")


class ActionCheckStatus(Action):
    """By ticket id or the sender's latest; someone else's ticket gets a refusal, not its content."""

    def name(self) -> Text:
        return "action_check_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        if in_group(tracker):
            dispatcher.utter_message(response="utter_status_private_only")
            return []
        channel, sender_id = reporter(tracker)
        text = (tracker.latest_message or {}).get("text") or ""
        ticket_id = normalize_ticket_id(text)
        mentioned = "gd" in text.lower() and ticket_id is None
        if mentioned:
            dispatcher.utter_message(response="utter_malformed_ticket_id")
            return []
        page = entity(tracker, "list_page")
        if page or (ticket_id is None and any(w in text for w in directory().service.ticket_list_words)):
            return list_tickets(dispatcher, channel, sender_id, int(page) if (page or "").isdigit() else 1)
        try:
            ticket = (store().get_for_reporter(ticket_id, channel, sender_id) if ticket_id
                      else store().latest_for_reporter(channel, sender_id))
        except TicketError as error:
            dispatcher.utter_message(text=error.user_message)
            return [SlotSet("ticket_id", None)]
        if ticket is None:
            dispatcher.utter_message(response="utter_no_tickets")
            return []
        dispatcher.utter_message(text=status_text(ticket))
        return [SlotSet("ticket_id", ticket.id)]


class ActionRecordFeedback(Action):
    """Feedback while a follow-up waits for the sender is its answer; any other goes onto the
    sender's latest ticket as a note."""

    def name(self) -> Text:
        return "action_record_feedback"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        answered = typed_followup_answer(dispatcher, tracker)
        if answered is not None:
            return answered
        channel, sender_id = reporter(tracker)
        ticket = store().latest_for_reporter(channel, sender_id)
        if ticket:
            store().add_note(ticket.id, f"{channel}:{sender_id}",
                             f"居民反馈：{(tracker.latest_message or {}).get('text', '')[:500]}")
        dispatcher.utter_message(response="utter_feedback_thanks")
        return []


def confirms_a_filed_report(tracker: Tracker) -> bool:
    """An affirm whose previous action filed the resident's report."""
    if latest_intent(tracker) != "affirm":
        return False
    done = [e.get("name") for e in tracker.events if e.get("event") == "action" and e.get("name") != "action_listen"]
    return bool(done) and done[-1] == "action_submit_report"


class ActionFallbackOptions(Action):
    """Says briefly that it did not understand and offers the main options; a second miss in a row
    offers a person instead of asking again."""

    def name(self) -> Text:
        return "action_fallback_options"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        if confirms_a_filed_report(tracker):
            # The answer to "确认" was lost on the way and the resident sent it again: the report is
            # filed, so its ticket is shown (after "没太明白" they would report it a second time).
            return await ActionCheckStatus().run(dispatcher, tracker, domain)
        if latest_intent(tracker) in ("affirm", "deny", "nlu_fallback"):  # "没有" / "一般吧" to 解决了吗？
            answered = typed_followup_answer(dispatcher, tracker)
            if answered is not None:
                return answered
        text = ((tracker.latest_message or {}).get("text") or "").strip()
        remember_misunderstood(tracker)  # for the workbench's 没听懂的话 page
        misses = int(tracker.get_slot("failed_attempts") or 0) + 1
        if not text:
            dispatcher.utter_message(response="utter_empty_message")
        elif misses >= 2:
            dispatcher.utter_message(response="utter_fallback_human", buttons=_MAIN_OPTIONS[-1:])
            return [SlotSet("failed_attempts", 0)]
        else:
            dispatcher.utter_message(response="utter_default", buttons=_MAIN_OPTIONS)
        return [SlotSet("failed_attempts", misses)]


class ActionSetSubscription(Action):
    """Subscribes or unsubscribes the sender to community notices, and says which it did."""

    def name(self) -> Text:
        return "action_set_subscription"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker,
                  domain: DomainDict) -> List[Dict[Text, Any]]:
        named = broadcasts.get_config().topics_named((tracker.latest_message or {}).get("text") or "")
        # Asking for a kind of notice is subscribing, whatever "…别的不用" made the model think.
        subscribe = latest_intent(tracker) == "subscribe_notices" or bool(named)
        changed = set_subscription(*reporter(tracker), subscribe)
        if not subscribe:
            dispatcher.utter_message(response="utter_unsubscribe_notices" if changed else "utter_already_unsubscribed")
            return []
        community = directory().community_of(entity(tracker, "community"))
        if community:  # the answer to "您住哪个社区？"
            profiles.remember_community(*reporter(tracker), community, engine=store().engine)
            dispatcher.utter_message(response="utter_notice_community_set", community=community)
        if named:
            _choose_named_topics(dispatcher, tracker, named)
        elif not community:
            dispatcher.utter_message(response="utter_subscribe_notices" if changed else "utter_already_subscribed")
        if not (community or profiles.community_of_person(*reporter(tracker), engine=store().engine)):
            dispatcher.utter_message(response="utter_notice_community_ask", buttons=[
                {"title": c.name, "payload": f'/subscribe_notices{{"community":"{c.name}"}}'}
                for c in directory().communities])
        elif not named:  # then the topics, with what was chosen before still chosen
            chosen = topics_of(store().engine, *reporter(tracker))
            dispatcher.utter_message(response="utter_notice_topics_ask", buttons=topic_buttons(chosen))
        return []


def _choose_named_topics(dispatcher: CollectingDispatcher, tracker: Tracker, named: List[str]) -> None:
    """"停水停电的通知发给我" chooses the topic as it subscribes: no buttons to tap after."""
    config = broadcasts.get_config()
    channel, sender_id = reporter(tracker)
    with_first_reset = [None, *named]  # the words say exactly which: an earlier choice gives way
    for code in with_first_reset:
        _, chosen = topics.choose_topic(store().engine, channel, sender_id, code, store().clock())
    dispatcher.utter_message(response="utter_notice_topics_set", topics="、".join(config.topics[c] for c in chosen),
                             buttons=topic_buttons(chosen))
