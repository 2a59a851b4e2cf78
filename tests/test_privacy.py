"""Personal data: who may see a ticket and how much of it, and where a phone number may be kept.

The store tests run on SQLite and PostgreSQL; the stack test runs a real Rasa server and action
server with the Redis tracker store (database 13 of the local Redis, this module's own) and reads
their real logs and what they stored in Redis.
"""
from __future__ import annotations

import json
import re
import uuid

import httpx
import pytest
import redis
from sqlalchemy import create_engine, insert

from bot.callbacks import store as callbacks
from bot.callbacks.models import CallbackRequest
from bot.callbacks.store import mask_existing_notes
from bot.core.db import session_scope
from bot.people.roster import Staff
from bot.staff import access, commands
from bot.staff.tickets import CommandError, list_tickets
from bot.tickets.masking import mask_existing
from bot.tickets.models import Ticket
from bot.tickets.store import TicketStore
from tests.stack import response_text, start_stack, ticket_id_in

PHONE = "13812349876"
REDIS_URL = "redis://127.0.0.1:6379/13"


def file(store, sender="alice", **fields):
    values = {"category": "elevator", "description": f"2号楼3单元502电梯坏了 电话{PHONE}", "community": "望园社区",
              "building": "2", "reporter_channel": "rest", "reporter_id": sender, **fields}
    return store.create(**values)


# -- what the store keeps ----------------------------------------------------------------------

def test_a_phone_in_the_description_is_kept_only_in_the_phone_field(store):
    ticket = file(store, description="2号楼3单元502电梯坏了 电话 138 1234 9876")
    assert ticket.phone == PHONE, "a phone written only in the description is not lost"
    assert ticket.description == "2号楼3单元5**电梯坏了 电话 138****9876"
    given = file(store, phone="13900001111")
    assert (given.phone, PHONE in given.description) == ("13900001111", False)


def test_notes_and_callback_requests_are_stored_masked(store):
    ticket = file(store)
    noted = store.add_note(ticket.id, "rest:alice", f"居民反馈：还没修，打我电话{PHONE}")
    assert noted.history[-1].note == "居民反馈：还没修，打我电话138****9876"
    resolved = store.transition(ticket.id, "in_progress", "staff:wang", f"已联系{PHONE}")
    assert resolved.history[-1].note == "已联系138****9876"
    request, _ = callbacks.request(store, "rest", "alice", phone=PHONE, note=f"回电{PHONE}")
    assert (request.phone, request.note) == (PHONE, "回电138****9876")


def test_mask_existing_masks_rows_written_before_and_changes_nothing_the_second_time(store):
    now = store.clock()
    with session_scope(store.engine) as session:
        session.execute(insert(Ticket).values(
            id="GD202611010001", category="leak", community="望园社区", building="2", room="502",
            description=f"502屋顶漏水 电话{PHONE}", photos=[], reporter_channel="rest", reporter_id="old",
            source="resident", status="dispatched", created_at=now, updated_at=now))
        session.execute(insert(CallbackRequest).values(channel="rest", sender_id="old", note=f"电话{PHONE}",
                                                       created_at=now, expected_by=now, status="open"))
    with session_scope(store.engine) as session:
        assert (mask_existing(session), mask_existing_notes(session)) == (1, 1)
    with session_scope(store.engine) as session:
        assert (mask_existing(session), mask_existing_notes(session)) == (0, 0)
    old = store.get("GD202611010001")
    assert (old.description, old.phone, old.room) == ("502屋顶漏水 电话138****9876", PHONE, "502")


# -- who sees what -----------------------------------------------------------------------------

def test_residents_see_their_own_tickets_and_followers_never_the_reporters_contact(store):
    ticket = file(store, room="502", unit="3")
    mine = access.resident_view(store, ticket, "rest", "alice")
    assert (mine.phone, mine.room) == (PHONE, "502")
    assert access.resident_view(store, ticket, "rest", "bob") is None
    assert access.resident_view(store, ticket, "wechat", "alice") is None, "the same id on another channel"
    store.follow(ticket.id, "rest", "bob")
    followed = access.resident_view(store, ticket, "rest", "bob")
    assert (followed.id, followed.phone, followed.room) == (ticket.id, None, None)
    assert access.resident_view(store, ticket, None, "bob").phone is None, "a conversation nobody wrote in"


def test_staff_see_their_communities_and_handler_accounts_their_own_tickets(store):
    wangyuan = file(store)
    xiyuan = file(store, category="leak", community="万柳西园社区", building="5", description="5号楼屋顶漏水")
    other_office = Staff("wecom", "xiyuan", ("万柳西园社区",))
    with pytest.raises(CommandError, match="不在您负责的社区"):
        commands.run_command(store, other_office, "show", wangyuan.id, private=True)
    duty = Staff("wecom", "jinguanjia", handlers=(wangyuan.handler_name,))
    assert duty.may_see(wangyuan) and not duty.may_see(xiyuan)
    response, shown = commands.run_command(store, duty, "show", wangyuan.id, private=True)
    assert (response, shown["phone"]) == ("utter_staff_ticket", PHONE)
    with pytest.raises(CommandError, match="不在您负责的承办的单位"):
        commands.run_command(store, duty, "show", xiyuan.id, private=True)
    assert [t.id for t in list_tickets(store, staff=duty)] == [wangyuan.id]


# -- on a running stack ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def private_stack(tmp_path_factory):
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(f"Redis at {REDIS_URL} is needed for this test and is not reachable: {error}")
    tmp = tmp_path_factory.mktemp("privacy")
    stack = start_stack(tmp, redis_url=REDIS_URL)
    engine = create_engine(stack.env["LINLI_DATABASE_URL"], future=True)
    senders = {name: f"pv-{name}-{uuid.uuid4().hex[:6]}" for name in ("alice", "bob", "carol")}
    yield stack, TicketStore(engine=engine), senders, client
    stack.stop()
    for key in client.scan_iter("*pv-*"):  # only this module's conversations
        client.delete(key)
    client.close()
    engine.dispose()


def trigger(stack, conversation: str, intent: str, **entities) -> str:
    """What the scheduler's route (trigger_intent with the API token) makes Linli say there."""
    params = {"output_channel": "latest", **({"token": stack.settings.api_token} if stack.settings.api_token else {})}
    answer = httpx.post(f"{stack.url}/conversations/{conversation}/trigger_intent", params=params,
                        json={"name": intent, "entities": entities}, timeout=60)
    answer.raise_for_status()
    return "\n".join(m.get("text") or "" for m in answer.json().get("messages") or [])


def test_a_second_resident_sees_nothing_personal_by_any_route_and_no_full_phone_is_kept(private_stack):
    stack, tickets, who, client = private_stack
    alice, bob, carol = who["alice"], who["bob"], who["carol"]
    stack.texts(alice, f"望园2号楼3单元502电梯坏了 困了个老人 电话{PHONE}")
    ticket_id = ticket_id_in(stack.texts(alice, "确认"))
    stored = tickets.get(ticket_id)
    assert (stored.phone, stored.room, PHONE in stored.description) == (PHONE, "502", False)
    personal = (PHONE, "502", "困了个老人")

    def nothing_personal(text: str) -> str:
        assert not [p for p in personal if p in text], text
        return text

    # by ticket id: refused, without the content
    assert nothing_personal(stack.texts(bob, f"查进度 {ticket_id}")) == \
        "这个工单不是您提交的，为保护隐私没法查看。如有疑问可以说“转人工”。"
    # the duplicate prompt: category, building, status and date only
    prompt = nothing_personal(stack.texts(bob, "望园2号楼的电梯也坏了"))
    day = f"{stored.created_at.astimezone(tickets.zone).month}月{stored.created_at.astimezone(tickets.zone).day}日"
    assert response_text("utter_ask_same_problem", duplicate_summary=(
        f"2号楼已经有人报过类似的问题：\n{day}报的电梯故障，已派单")) in prompt, prompt
    assert ticket_id not in prompt
    # as a follower: the progress, never the reporter's phone or room
    nothing_personal(stack.texts(bob, "是同一个"))
    assert (("rest", bob) in tickets.followers(ticket_id))
    assert ticket_id in nothing_personal(stack.texts(bob, "查进度"))
    # proactive messages for someone the ticket is not theirs: nothing at all
    assert trigger(stack, carol, "EXTERNAL_ticket_update", ticket_id=ticket_id, update="in_progress") == ""
    assert trigger(stack, carol, "EXTERNAL_followup", ticket_id=ticket_id) == ""
    assert trigger(stack, carol, "EXTERNAL_staff_notice", notice="whistle", ticket_id=ticket_id) == ""
    assert trigger(stack, carol, "EXTERNAL_staff_notice", notice="digest") == ""
    assert trigger(stack, "wanliuxiyuan-office", "EXTERNAL_staff_notice", notice="whistle", ticket_id=ticket_id) == "", \
        "staff of another community"
    whistle = trigger(stack, "wangyuan-office", "EXTERNAL_staff_notice", notice="whistle", ticket_id=ticket_id)
    assert ticket_id in whistle and PHONE not in whistle, "the community's own staff get the notice"
    assert stored.handler_name == "金管家物业"
    handler_whistle = trigger(stack, "jinguanjia-desk", "EXTERNAL_staff_notice", notice="whistle", ticket_id=ticket_id)
    assert ticket_id in handler_whistle and PHONE not in handler_whistle, "the handler's own desk gets it too"
    assert trigger(stack, "shouhua-desk", "EXTERNAL_staff_notice", notice="due_soon", ticket_id=ticket_id) == "", \
        "another handler's desk"
    assert trigger(stack, "jinguanjia-desk", "EXTERNAL_staff_notice", notice="supervision", ticket_id=ticket_id) == "", \
        "a handler is not told it is being supervised as if it were staff"
    # resolved: the reporter is told a follow-up question will come; a follower, who gets none, is not
    told_follower = trigger(stack, bob, "EXTERNAL_ticket_update", ticket_id=ticket_id, update="resolved")
    assert "您关注的" in told_follower and "问问您" not in told_follower and PHONE not in told_follower
    assert "问问您" in trigger(stack, alice, "EXTERNAL_ticket_update", ticket_id=ticket_id, update="resolved")
    # a failing action and a malformed typed intent, each with a phone in it, reach the logs
    params = {"output_channel": "latest", **({"token": stack.settings.api_token} if stack.settings.api_token else {})}
    failed = httpx.post(f"{stack.url}/conversations/{alice}/trigger_intent", params=params, timeout=60, json={
        "name": "EXTERNAL_followup", "entities": {"ticket_id": ticket_id, "followup_round": "电话13712340000"}})
    assert failed.status_code == 500, "a failed action is an error the scheduler retries (bot.runtime.resilience)"
    stack.say(alice, '/greet{"phone": "13612345678"')  # read as words; it may start a report
    stack.say(alice, "算了")  # which she drops: no form keeps the number any longer

    logs = "\n".join(path.read_text(errors="replace") for path in stack.logs)
    assert "137****0000" in logs, "the failed action was logged (masked)"
    assert not re.findall(r"(?<!\d)1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)", logs), "a full phone number in a log"
    for sender in (alice, bob, carol):
        key = f"linlitracker:tracker:{sender}"
        kept = client.get(key).decode()
        assert not re.findall(r"(?<!\d)1[3-9]\d{9}(?!\d)", kept), f"a full phone number in Redis under {key}"
        assert 6 * 86400 < client.ttl(key) <= 7 * 86400, "record_exp: privacy.tracker_retention_days"
    events = json.loads(client.get(f"linlitracker:tracker:{alice}"))["events"]
    assert "望园2号楼3单元502电梯坏了 困了个老人 电话138****9876" in [e.get("text") for e in events]
    assert [e["value"] for e in events if e.get("event") == "slot" and e["name"] == "phone"][-1] is None


# -- logs ------------------------------------------------------------------------------------------

def test_every_log_record_and_warning_is_masked_once_installed(capsys):
    import logging
    import warnings

    from bot.privacy import logs

    logs.install()
    logs.install()  # twice changes nothing: one factory, one wrapper
    stream = __import__("io").StringIO()
    handler = logging.StreamHandler(stream)  # added after install, as Rasa adds its own
    logger = logging.getLogger("linli.test.privacy")
    logger.addHandler(handler)
    try:
        logger.warning("tracker %s", {"slots": {"phone": PHONE}})
        try:
            raise ValueError(f"body='{PHONE}'")
        except ValueError:
            logger.exception("action failed for 138-1234-9876")
    finally:
        logger.removeHandler(handler)
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning(f"Failed to parse '/greet{{\"phone\": \"{PHONE}\"'", UserWarning, "x.py", 1)
    written = stream.getvalue() + capsys.readouterr().err
    assert "138****9876" in written and "ValueError" in written
    assert not re.findall(r"(?<!\d)1[3-9]\d[\s-]?\d{4}[\s-]?\d{4}(?!\d)", written), written


# -- conversations in Redis ------------------------------------------------------------------------

def test_a_conversation_is_stored_masked_and_its_phone_slot_kept_only_while_the_form_asks():
    import asyncio

    from rasa.shared.core.domain import Domain
    from rasa.shared.core.events import ActiveLoop, SlotSet, UserUttered
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.runtime.tracker_store import PrivateRedisTrackerStore

    domain = Domain.from_dict({
        "slots": {name: {"type": "text", "mappings": [{"type": "custom"}]} for name in ("phone", "description")},
        "forms": {"report_form": {"required_slots": ["phone"]}}})
    store = PrivateRedisTrackerStore(domain, host="127.0.0.1", port=6379, db=13, key_prefix="linliprivacytest",
                                     record_exp=600)
    sender = f"pv-unit-{uuid.uuid4().hex[:6]}"
    key = f"linliprivacytest:tracker:{sender}"
    try:
        tracker = DialogueStateTracker.from_events(sender, [
            UserUttered(f"屋顶漏水 电话{PHONE}", parse_data={"entities": [{"entity": "phone", "value": PHONE}]}),
            ActiveLoop("report_form"), SlotSet("description", f"屋顶漏水 电话{PHONE}"), SlotSet("phone", PHONE)],
            slots=domain.slots)
        asyncio.run(store.save(tracker))
        during = asyncio.run(store.retrieve(sender))
        assert during.get_slot("phone") == PHONE, "the form still needs the phone"
        assert during.latest_message.text == "屋顶漏水 电话138****9876"
        tracker.update(ActiveLoop(None))
        asyncio.run(store.save(tracker))
        after = asyncio.run(store.retrieve(sender))
        assert (after.get_slot("phone"), after.get_slot("description")) == (None, "屋顶漏水 电话138****9876")
        assert len(after.events) == len(tracker.events), "each event stored once"
        assert PHONE not in store.red.get(key) and 0 < store.red.ttl(key) <= 600
    finally:
        store.red.delete(key)
