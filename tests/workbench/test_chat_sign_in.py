"""The workbench from chat, at the action level (rasa-sdk trackers, a real SQLite store): "/登录" is
read by rule and gives staff a one-time link in a private chat only; residents hear the workbench
is for staff and nothing is issued; fallback turns and "不对" keep the misunderstood message, masked,
once. The same on a real stack through WeChat Work and Telegram: tests/workbench/test_chat_stack.py."""
from __future__ import annotations

import asyncio
import shutil

import pytest
from rasa.shared.nlu.constants import TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import func, select

from actions import common
from actions.console_link import ActionConsoleLink
from actions.status import ActionFallbackOptions
from bot.core.settings import PACKAGE_DATA
from bot.nlu.commands import StaffCommandRecognizer, parse_command
from bot.people import roster
from bot.workbench import auth, misunderstood
from bot.workbench.models import MisunderstoodMessage, SignInLink

STAFF = ("wecom", "wangyuan-office")
RESIDENT = ("wechat", "oResident0000001")


@pytest.fixture(autouse=True)
def world(tmp_path, monkeypatch):
    monkeypatch.setenv("LINLI_DATABASE_URL", f"sqlite:///{tmp_path / 'chat.db'}")
    staff_file = tmp_path / "staff.yml"
    shutil.copy(PACKAGE_DATA / "staff.yml", staff_file)
    monkeypatch.setenv("LINLI_STAFF_FILE", str(staff_file))
    monkeypatch.setenv("LINLI_CONSOLE_URL", "https://linli.example.org")
    from bot.core.db import init_db

    common.store.cache_clear()
    init_db()
    roster.sync_staff(common.store().engine, staff_file)
    yield
    common.store.cache_clear()


def user_event(text, intent, confidence=0.9, ranking=None, message_id=None, **parse):
    parse_data = {"text": text, "intent": {"name": intent, "confidence": confidence},
                  "intent_ranking": ranking or [{"name": intent, "confidence": confidence}], "entities": [], **parse}
    return {"event": "user", "text": text, "parse_data": parse_data,
            "message_id": message_id or f"m-{abs(hash((text, intent))) % 10**9}"}


def tracker(events, who=RESIDENT, chat_type="private"):
    events = [{**e, "input_channel": who[0]} if e["event"] == "user" else e for e in events]
    latest = {**events[-1]["parse_data"], "metadata": {"chat_type": chat_type}}
    return Tracker.from_dict({"sender_id": who[1], "slots": {}, "latest_message": latest, "events": events,
                              "latest_input_channel": who[0], "active_loop": {},
                              "latest_action_name": "action_listen"})


def run(action, t):
    dispatcher = CollectingDispatcher()
    events = asyncio.run(action.run(dispatcher, t, {}))
    return dispatcher.messages, events


def links() -> int:
    from bot.core.db import session_scope

    with session_scope(common.store().engine) as session:
        return session.execute(select(func.count()).select_from(SignInLink)).scalar()


# -- /登录 -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text", ["/登录", "／登录", "/登陆", "/工作台", "/login", " /登录 "])
def test_the_sign_in_command_is_read_by_rule(text):
    assert parse_command(text) == ("console_link", "")
    [message] = StaffCommandRecognizer().process([Message(data={TEXT: text})])
    assert message.get("intent") == {"name": "console_link", "confidence": 1.0}


@pytest.mark.parametrize("text", ["登录", "我要登录", "/loginx", "/log in"])
def test_words_without_the_command_are_left_to_the_model(text):
    assert parse_command(text) is None


def test_staff_get_a_one_time_link_in_a_private_chat():
    [message], _ = run(ActionConsoleLink(), tracker([user_event("/登录", "console_link", 1.0)], STAFF))
    assert message["response"] == "utter_console_link" and message["minutes"] == "10"
    assert message["url"].startswith("https://linli.example.org/login?t=")
    token = message["url"].split("t=", 1)[1]
    engine = common.store().engine
    session_token, subject = auth.redeem(engine, token, common.store().clock(), "127.0.0.1")
    assert (subject.role, subject.actor, subject.scope) == ("staff", "staff:wecom:wangyuan-office", ("望园社区",))
    with pytest.raises(auth.SignInError):
        auth.redeem(engine, token, common.store().clock(), "127.0.0.1")


def test_residents_and_groups_get_no_link():
    [message], _ = run(ActionConsoleLink(), tracker([user_event("登录工作台", "console_link")], RESIDENT))
    assert message["response"] == "utter_console_staff_only"
    for who in (STAFF, RESIDENT):
        [message], _ = run(ActionConsoleLink(), tracker([user_event("/登录", "console_link", 1.0)], who,
                                                        chat_type="group"))
        assert message["response"] == "utter_console_link_private"
    assert links() == 0


# -- misunderstood messages ----------------------------------------------------------------------

def rows() -> list[MisunderstoodMessage]:
    return sorted(misunderstood.listing(common.store().engine), key=lambda m: m.id)


def test_a_fallback_turn_keeps_the_message_masked_with_the_guess_once():
    said = user_event("楼上那家天天半夜蹦迪 我电话13812345678", "nlu_fallback", 0.5,
                      ranking=[{"name": "nlu_fallback", "confidence": 0.5}, {"name": "report_issue", "confidence": 0.41},
                               {"name": "greet", "confidence": 0.1}], category={"name": "noise", "confidence": 0.7})
    for _ in range(2):  # the same turn run again (a retried action) is kept once
        messages, events = run(ActionFallbackOptions(), tracker([said]))
        assert messages[0]["response"] == "utter_default"
    [row] = rows()
    assert "13812345678" not in row.text and "138****5678" in row.text
    assert (row.reason, row.guessed_intent, row.guessed_category, row.confidence, row.channel) == (
        "fallback", "report_issue", "noise", 0.41, "wechat")
    assert row.sender != RESIDENT[1]


def test_a_resident_saying_the_answer_was_wrong_keeps_the_message_before():
    asked = user_event("修房子的钱从哪儿出", "faq", 0.8, response_selector={
        "faq": {"response": {"intent_response_key": "faq/12345", "confidence": 0.6}}})
    wrong = user_event("不对，我问的不是这个", "deny", 0.9)
    run(ActionFallbackOptions(), tracker([asked, {"event": "action", "name": "utter_faq"}, wrong]))
    [row] = rows()
    assert (row.text, row.reason, row.guessed_intent, row.guessed_category) == (
        "修房子的钱从哪儿出", "corrected", "faq/12345", None)


@pytest.mark.parametrize("text, intent", [("不用了", "deny"), ("好的", "affirm")])
def test_a_stray_yes_or_no_that_corrects_nothing_is_not_kept(text, intent):
    asked = user_event("物业电话多少", "ask_property_hotline")
    run(ActionFallbackOptions(), tracker([asked, user_event(text, intent)]))
    assert rows() == []


def test_a_correction_never_reaches_into_an_earlier_session():
    old = user_event("上周说的那个事", "greet")
    wrong = user_event("不对", "deny")
    run(ActionFallbackOptions(), tracker([old, {"event": "session_started"}, wrong]))
    assert rows() == []


def test_the_fallback_still_answers_when_the_message_cannot_be_kept(monkeypatch, caplog):
    from sqlalchemy.exc import OperationalError

    from actions import misunderstood as capture

    def unavailable(*args, **kwargs):
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(capture, "record_misunderstood", unavailable)
    said = user_event("昨儿个那事儿咋整的呀 13812345678", "nlu_fallback", 0.5)
    messages, events = run(ActionFallbackOptions(), tracker([said]))
    assert messages[0]["response"] == "utter_default"
    assert "misunderstood message not kept (OperationalError)" in caplog.text
    assert "13812345678" not in caplog.text and "咋整" not in caplog.text


def test_the_workbench_names_staff_from_the_one_staff_file_watcher():
    """The page header's name comes from bot.people.roster's watcher of the staff file (the one
    every process shares), so a rename in the file shows at the next request."""
    import dataclasses
    import os

    from bot.config import staff

    engine = common.store().engine
    path = staff.staff_file()
    before = next(m.name for m in staff.load_staff(path) if m.key == STAFF)
    assert auth.subject_for("staff", *STAFF, engine).name == before
    renamed = [dataclasses.replace(m, name="新名字") if m.key == STAFF else m for m in staff.load_staff(path)]
    staff.save_staff(renamed, path)
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))  # a new stamp, however fast
    assert auth.subject_for("staff", *STAFF, engine).name == "新名字"
    assert next(m.name for m in roster.members() if m.key == STAFF) == "新名字"
