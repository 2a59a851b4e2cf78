"""Action unit tests: rasa-sdk trackers and dispatcher, a real SQLite store, no Rasa server."""
from __future__ import annotations

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import common
from actions.answers import ActionAnswerPropertyHotline, ActionAnswerResponsibleParty
from actions.callbacks import ActionAskCallbackPhone, ActionRequestHuman, ValidateCallbackForm
from actions.report import ActionSubmitReport, ValidateReportForm, report_summary
from actions.status import ActionCheckStatus, ActionFallbackOptions

DOMAIN = {"forms": {"report_form": {"required_slots": []}}, "slots": {}, "responses": {}}


@pytest.fixture(autouse=True)
def fresh_store(tmp_path, monkeypatch):
    monkeypatch.setenv("LINLI_DATABASE_URL", f"sqlite:///{tmp_path / 'actions.db'}")
    from bot.core.db import init_db

    common.store.cache_clear()
    init_db()
    yield
    common.store.cache_clear()


def tracker(text="", intent="report_issue", slots=None, entities=(), sender="r1", channel="rest",
            metadata=None, extra=None, active_loop=None, slot_events=()):
    latest = {"text": text, "intent": {"name": intent, "confidence": 0.99},
              "entities": list(entities), "metadata": metadata or {}, **(extra or {})}
    events = [{"event": "user", "text": text, "parse_data": latest, "input_channel": channel},
              *({"event": "slot", "name": k, "value": v} for k, v in slot_events)]
    return Tracker.from_dict({"sender_id": sender, "slots": slots or {}, "latest_message": latest,
                              "events": events, "latest_input_channel": channel,
                              "active_loop": {"name": active_loop} if active_loop else {},
                              "latest_action_name": "action_listen"})


def run(action, t):
    dispatcher = CollectingDispatcher()
    import asyncio

    events = asyncio.run(action.run(dispatcher, t, DOMAIN))
    return events, dispatcher.messages


def slots_of(events):
    return {e["name"]: e["value"] for e in events if e.get("event") == "slot"}


FILLED = {"category": "leak", "description": "屋顶漏水了，下雨就滴", "community": "万柳西园社区",
          "building": "5", "unit": "2", "room": "502", "phone": "13812345678", "report_confirmed": True}


def test_confirmation_masks_the_phone_and_shows_the_reporter_their_own_room():
    summary = report_summary({**FILLED, "description": "5号楼2单元502漏水 电话13812345678"})
    assert "138****5678" in summary and "13812345678" not in summary
    assert "地点：万柳西园社区 5号楼 2单元 502室" in summary


def test_a_report_in_a_group_is_moved_to_a_private_chat():
    link = "https://t.me/linli_bot?start=report"
    events, _ = run(ValidateReportForm(), tracker("5号楼2单元502漏水 电话13812345678",
                                                  metadata={"chat_type": "group", "private_link": link}))
    assert slots_of(events) == {"report_stopped": "private_chat", "requested_slot": None}
    _, messages = run(ActionSubmitReport(), tracker("5号楼2单元502漏水", slots={"report_stopped": "private_chat"},
                                                    metadata={"chat_type": "group", "private_link": link}))
    assert link in messages[0]["text"] and "502" not in messages[0]["text"]


def test_summary_is_prepared_when_the_confirmation_comes_next():
    slots = {k: v for k, v in FILLED.items() if k != "report_confirmed"}
    events, _ = run(ValidateReportForm(), tracker("电话13812345678", slots={**slots, "requested_slot": "phone"},
                                                  slot_events=[("phone", "13812345678")]))
    assert "138****5678" in slots_of(events).get("report_summary", "")


def test_submit_creates_a_ticket_routed_to_the_property_company():
    events, messages = run(ActionSubmitReport(), tracker("确认", intent="affirm", slots=FILLED))
    ticket_id = slots_of(events)["ticket_id"]
    ticket = common.store().get(ticket_id)
    assert ticket.category == "leak" and ticket.building == "5" and ticket.phone == "13812345678"
    assert ticket.handler_name == "首华物业" and ticket.reporter_id == "r1"
    assert messages[0]["response"] == "utter_ticket_created" and messages[0]["ticket_id"] == ticket_id


def test_unmanaged_building_goes_to_the_community():
    events, _ = run(ActionSubmitReport(), tracker("确认", intent="affirm", slots={**FILLED, "building": "9"}))
    assert common.store().get(slots_of(events)["ticket_id"]).handler_name == "万柳西园社区"


def test_cancelled_report_writes_nothing():
    events, messages = run(ActionSubmitReport(), tracker("算了", intent="deny",
                                                         slots={**FILLED, "report_stopped": "cancelled"}))
    assert messages[0]["response"] == "utter_report_cancelled"
    assert common.store().list() == [] and "ticket_id" not in slots_of(events)


def test_cancel_word_stops_the_form():
    events, _ = run(ValidateReportForm(), tracker("算了不报了", intent="deny", slots={"requested_slot": "building"}))
    assert slots_of(events) == {"report_stopped": "cancelled", "requested_slot": None}


def test_building_not_in_directory_is_refused():
    form = ValidateReportForm()
    dispatcher = CollectingDispatcher()
    result = form.validate_building("99", dispatcher, tracker("99号楼", slots={"community": "望园社区"}), DOMAIN)
    assert result == {"building": None}
    assert dispatcher.messages[0]["response"] == "utter_unknown_building"


def test_invalid_phone_is_refused():
    dispatcher = CollectingDispatcher()
    result = ValidateReportForm().validate_phone("12345", dispatcher, tracker("12345"), DOMAIN)
    assert result == {"phone": None} and dispatcher.messages[0]["response"] == "utter_invalid_phone"


def test_status_of_own_ticket_and_refusal_for_someone_elses():
    events, _ = run(ActionSubmitReport(), tracker("确认", intent="affirm", slots=FILLED, sender="owner"))
    ticket_id = slots_of(events)["ticket_id"]
    _, own = run(ActionCheckStatus(), tracker(f"查一下{ticket_id}", intent="check_status", sender="owner"))
    assert ticket_id in own[0]["text"] and "首华物业" in own[0]["text"]
    _, other = run(ActionCheckStatus(), tracker(f"查一下{ticket_id}", intent="check_status", sender="stranger"))
    assert "首华物业" not in other[0]["text"] and "屋顶" not in other[0]["text"]


def test_status_with_malformed_or_unknown_id():
    _, malformed = run(ActionCheckStatus(), tracker("查GD12345", intent="check_status"))
    assert malformed[0]["response"] == "utter_malformed_ticket_id"
    _, unknown = run(ActionCheckStatus(), tracker("查GD209901010001", intent="check_status"))
    assert unknown[0]["text"] == "没有找到工单 GD209901010001，请核对一下工单号。"


def test_latest_ticket_when_no_id_given():
    _, none = run(ActionCheckStatus(), tracker("我报的事怎么样了", intent="check_status", sender="new"))
    assert none[0]["response"] == "utter_no_tickets"


def test_request_human_records_one_callback_and_plans_its_notice():
    from actions.common import local_time
    from bot.callbacks import store as callbacks
    from bot.scheduling.scheduler import Scheduler

    slots = {"callback_phone": "13812345678", "callback_time": "下午"}
    _, messages = run(ActionRequestHuman(), tracker("下午", intent="nlu_fallback", slots=slots))
    [request] = callbacks.list_callbacks(common.store())
    assert (request.channel, request.sender_id, request.phone, request.preferred_time) == ("rest", "r1", "13812345678", "下午")
    assert messages == [{**messages[0], "response": "utter_human_requested", "phone": "138****5678",
                         "expected_by": local_time(request.expected_by)}]
    scheduler = Scheduler(engine=common.store().engine).open()
    try:
        assert {j.id for j in scheduler.jobs()} >= {f"callback:{request.id}:notice", f"callback:{request.id}:overdue"}
    finally:
        scheduler.stop(release=False)
    events, _ = run(ValidateCallbackForm(), tracker("转人工", intent="request_human"))
    assert slots_of(events) == {"callback_phone": "already", "requested_slot": None}, "nothing asked a second time"
    _, told = run(ActionRequestHuman(), tracker("转人工", intent="request_human", slots={"callback_phone": "already"}))
    assert told[0]["response"] == "utter_callback_already" and told[0]["callback_id"] == request.id
    assert len(callbacks.list_callbacks(common.store(), status=None)) == 1


def test_callback_form_offers_the_phone_on_file_masked():
    from bot.callbacks import store as callbacks

    common.store().create(category="leak", description="漏水", reporter_channel="rest", reporter_id="r1",
                          community="望园社区", building="5", phone="13812345678")
    _, asked = run(ActionAskCallbackPhone(), tracker("转人工", intent="request_human"))
    assert asked[0]["response"] == "utter_ask_callback_phone_on_file" and asked[0]["phone"] == "138****5678"
    assert "13812345678" not in str(asked)
    validate = ValidateCallbackForm()
    assert validate.validate_callback_phone(asked[0]["buttons"][0]["payload"], CollectingDispatcher(),
                                            tracker("就打这个号码", intent="affirm"), DOMAIN) == {"callback_phone": "13812345678"}
    dispatcher = CollectingDispatcher()
    assert validate.validate_callback_phone("12345", dispatcher, tracker("12345", intent="nlu_fallback"),
                                            DOMAIN) == {"callback_phone": None}
    assert dispatcher.messages[0]["response"] == "utter_callback_phone_invalid"
    assert callbacks.list_callbacks(common.store()) == []


def test_a_callback_offers_the_residents_own_phone_never_a_followed_ones():
    store = common.store()
    own = store.create(category="leak", description="屋顶漏水", community="万柳西园社区", building="5",
                       phone="13812345678", reporter_channel="rest", reporter_id="r1")
    store.follow(own.id, "rest", "r2")
    offered = {sender: run(ActionAskCallbackPhone(), tracker("转人工", intent="request_human", sender=sender))[1][0]
               for sender in ("r1", "r2")}
    assert (offered["r1"]["response"], offered["r1"]["phone"]) == ("utter_ask_callback_phone_on_file", "138****5678")
    assert offered["r2"]["response"] == "utter_ask_callback_phone", "a follower is never offered the reporter's phone"
    assert "13812345678" not in str(offered)


def test_request_human_mid_report_hands_over_the_draft():
    """"转人工" in the middle of a report: the draft so far goes with the request, and is cleared."""
    from sqlalchemy import select

    from bot.callbacks.models import CallbackRequest
    from bot.core.db import session_scope

    draft = {"category": "elevator", "description": "电梯坏了", "community": "万柳西园社区", "building": "5",
             "phone": "13812345678", "callback_phone": "13812345678"}
    events, _ = run(ActionRequestHuman(), tracker("转人工", intent="request_human", sender="r-draft", slots=draft))
    with session_scope(common.store().engine) as session:
        row = session.execute(select(CallbackRequest).where(CallbackRequest.sender_id == "r-draft")).scalar_one()
        note = row.note
    assert "电梯故障" in note and "万柳西园社区 5号楼" in note and "138****5678" in note and "13812345678" not in note
    assert {e["name"]: e["value"] for e in events}["category"] is None


def test_responsible_party_for_unmanaged_and_managed_buildings():
    _, unmanaged = run(ActionAnswerResponsibleParty(), tracker("谁管", intent="ask_responsible_party",
                                                               slots={"community": "望园社区", "building": "6"}))
    assert unmanaged[0]["response"] == "utter_responsible_unmanaged"
    _, managed = run(ActionAnswerPropertyHotline(), tracker("物业电话", intent="ask_property_hotline",
                                                            slots={"community": "望园社区", "building": "2"}))
    assert managed[0]["response"] == "utter_property_hotline" and managed[0]["company"] == "金管家物业"


def test_fallback_offers_a_person_on_the_second_miss():
    events, first = run(ActionFallbackOptions(), tracker("啊啊", intent="nlu_fallback"))
    assert first[0]["response"] == "utter_default" and first[0]["buttons"]
    _, second = run(ActionFallbackOptions(), tracker("哦哦", intent="nlu_fallback", slots=slots_of(events)))
    assert second[0]["response"] == "utter_fallback_human"


def test_subscription_is_recorded_and_the_reply_says_what_changed():
    from actions.status import ActionSetSubscription
    from bot.people.subscriptions import is_subscribed

    _, first = run(ActionSetSubscription(), tracker("订阅通知", intent="subscribe_notices", sender="sub"))
    _, again = run(ActionSetSubscription(), tracker("订阅", intent="subscribe_notices", sender="sub"))
    assert [m["response"] for m in first] == ["utter_subscribe_notices", "utter_notice_community_ask"]
    assert again[0]["response"] == "utter_already_subscribed"
    assert is_subscribed("rest", "sub")
    _, off = run(ActionSetSubscription(), tracker("退订", intent="unsubscribe_notices", sender="sub"))
    assert off[0]["response"] == "utter_unsubscribe_notices" and not is_subscribed("rest", "sub")


def test_a_confirmation_sent_again_after_filing_shows_the_ticket_instead_of_not_understood():
    filed = common.store().create(category="leak", description="屋顶漏水", community="望园社区", building="5",
                                  reporter_channel="rest", reporter_id="r-again")
    again = tracker("确认", intent="affirm", sender="r-again")
    again.events.insert(0, {"event": "action", "name": "action_submit_report"})
    _, said = run(ActionFallbackOptions(), again)
    assert filed.id in said[0]["text"], "the ticket the lost answer carried"
    _, stray = run(ActionFallbackOptions(), tracker("确认", intent="affirm", sender="r-again"))
    assert stray[0]["response"] == "utter_default", "an affirm out of the blue is still not understood"


def test_no_to_which_community_ends_a_question_and_a_correction_is_kept_for_the_workbench():
    from actions.location import ValidateHotlineForm
    from bot.workbench.misunderstood import listing

    asked = tracker("不对，我问的不是这个", intent="deny", slots={"requested_slot": "community"},
                    active_loop="hotline_form")
    events, said = run(ValidateHotlineForm(), asked)
    assert slots_of(events)["requested_slot"] is None and not said, "not asked again"
    question = {"event": "user", "text": "物业电话多少 我是13812345678", "message_id": "m-hotline",
                "parse_data": {"text": "物业电话多少 我是13812345678",
                               "intent": {"name": "ask_property_hotline", "confidence": 0.9}}}
    asked.events.insert(0, question)
    events, said = run(ActionAnswerPropertyHotline(), asked)
    assert said[0]["response"] == "utter_default" and slots_of(events)["hotline_subject"] is None
    [kept] = listing(common.store().engine)
    assert (kept.reason, kept.guessed_intent) == ("corrected", "ask_property_hotline")
    assert "13812345678" not in kept.text

    _, said = run(ActionAnswerResponsibleParty(), tracker("算了", intent="deny", slots={"requested_slot": None}))
    assert said[0]["response"] == "utter_question_dropped", "a plain no is taken as it is"
    events, _ = run(ValidateHotlineForm(), tracker("不对，是6号楼", intent="deny", slots={"requested_slot": "building"},
                                                   entities=[{"entity": "building", "value": "6"}]))
    assert slots_of(events).get("requested_slot") == "community", "a place in it is an answer: the form goes on"


def test_a_form_turn_asks_the_database_for_the_role_and_the_duplicate_once(monkeypatch):
    """Rasa asks required_slots several times per validation: each used to read the role and search
    duplicates again (bench/PROFILE.md, fix 1)."""
    import actions.report as report

    common.store().create(category="leak", description="屋顶漏水", community="万柳西园社区", building="5",
                          reporter_channel="rest", reporter_id="someone-else")
    calls = {"role": 0, "duplicates": 0}
    role_of, find = report.role_of, common.store().find_duplicates

    def counted_role(*args):
        calls["role"] += 1
        return role_of(*args)

    def counted_find(*args, **kwargs):
        calls["duplicates"] += 1
        return find(*args, **kwargs)

    monkeypatch.setattr(report, "role_of", counted_role)
    monkeypatch.setattr(common.store(), "find_duplicates", counted_find)
    turn = tracker("5号楼", entities=[{"entity": "building", "value": "5"}], active_loop="report_form",
                   slots={"category": "leak", "community": "万柳西园社区", "requested_slot": "building"})
    events, _ = run(ValidateReportForm(), turn)
    assert slots_of(events).get("duplicate_of"), "the open leak is offered"
    assert calls == {"role": 1, "duplicates": 1}
