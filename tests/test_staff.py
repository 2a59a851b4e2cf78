"""Staff: the roster (staff file and database in step, one place for who gets notices), the rule-based
command grammar, and the chat commands with their role check: every command is refused for a
resident and for a volunteer and changes nothing; community staff touch their own communities only;
group chats never see phone or room numbers."""
from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import common
from actions.staff import ActionStaffCommand
from bot.config import staff
from bot.config.policy import Policy, get_policy
from bot.config.staff import StaffMember
from bot.core.settings import PACKAGE_DATA, PROJECT_ROOT
from bot.messaging.recipients import Recipient, recipients_for
from bot.nlu.commands import COMMANDS, OWN_INTENTS, parse_command
from bot.people import roles, roster
from bot.volunteers import records, signup

STAFF = ("linli_telegram", "9001")
XIYUAN_STAFF = ("wecom", "xiyuan-li")
RESIDENT = ("rest", "resident-1")
VOLUNTEER = ("rest", "rider-1")
LEAK = {"category": "leak", "description": "5号楼2单元502屋顶漏水 电话13812345678", "community": "万柳西园",
        "building": "5", "unit": "2", "room": "502", "phone": "13812345678"}


@pytest.fixture(autouse=True)
def world(tmp_path, monkeypatch):
    """A fresh SQLite database and a staff file of this test's own, with one street-wide member
    (on Telegram) and one for 万柳西园 only."""
    monkeypatch.setenv("LINLI_DATABASE_URL", f"sqlite:///{tmp_path / 'staff.db'}")
    staff_file = tmp_path / "staff.yml"
    shutil.copy(PACKAGE_DATA / "staff.yml", staff_file)
    monkeypatch.setenv("LINLI_STAFF_FILE", str(staff_file))
    from bot.core.db import init_db

    common.store.cache_clear()
    init_db()
    roster.add_staff(StaffMember(*STAFF, name="街道小王", notices=False))
    roster.add_staff(StaffMember(*XIYUAN_STAFF, name="西园小李", communities=("西园",), notices=False))
    yield staff_file
    common.store.cache_clear()


def tracker(text, sender, channel="rest", command=None, arguments=None, chat_type="private"):
    parsed = parse_command(text)
    command, arguments = (command, arguments) if command else (parsed or ("commands", ""))
    entities = [{"entity": "command", "value": command}] + (
        [{"entity": "command_args", "value": arguments}] if arguments else [])
    latest = {"text": text, "intent": {"name": "staff_command", "confidence": 1.0}, "entities": entities,
              "metadata": {"chat_type": chat_type}}
    return Tracker.from_dict({"sender_id": sender, "slots": {}, "latest_message": latest,
                              "events": [{"event": "user", "text": text, "parse_data": latest, "input_channel": channel}],
                              "latest_input_channel": channel, "active_loop": {}, "latest_action_name": "action_listen"})


def say(who, text, chat_type="private"):
    dispatcher = CollectingDispatcher()
    asyncio.run(ActionStaffCommand().run(dispatcher, tracker(text, who[1], who[0], chat_type=chat_type), {}))
    [message] = dispatcher.messages
    return message


def shown(message) -> str:
    """A reply as the user reads it, near enough: the response's parameters, or its text."""
    return message.get("text") or " ".join(str(v) for k, v in message.items() if k not in ("response", "ticket_id"))


def leak(**overrides):
    return common.store().create(**{"reporter_channel": "rest", "reporter_id": "alice", **LEAK, **overrides})


def rider(sender_id="rider-1", status="active"):
    view = signup.sign_up(common.store().engine, get_policy(), common.store().directory, "rest", sender_id,
                              name="张强", phone="13900001111", platform="美团", areas=["望园社区"], times=["11:00"],
                              consent=True, now=common.store().clock())
    if status == "active":
        view = records.approve(common.store().engine, get_policy(), view.key, common.store().clock())
    return view


# -- the grammar -------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("/工单 列表 逾期", ("list", "逾期")),
    ("/工单", ("list", "")),
    ("／工单 办结 GD202611220007 已修好", ("resolve", "GD202611220007 已修好")),
    ("/办结GD202611220007", ("resolve", "GD202611220007")),
    ("/改派 GD202611220007 万柳西园社区", ("assign", "GD202611220007 万柳西园社区")),
    ("/合并 GD202611220008 GD202611220007", ("merge", "GD202611220008 GD202611220007")),
    ("/批准 rest:rider-1", ("approve", "rest:rider-1")),
    ("/积分 2026-11", ("points", "2026-11")),
    ("/list overdue", ("list", "overdue")),
    ("/resolve GD202611220007", ("resolve", "GD202611220007")),
    ("/通知 望园 停水", ("broadcast", "望园 停水")),
    ("/取消通知 #12", ("broadcast_cancel", "#12")),
])
def test_commands_are_read_by_rule(text, expected):
    assert parse_command(text) == expected


@pytest.mark.parametrize("text", ["我要报修", "办结了吗", "/listing", "/help", "/report_issue", "工单 列表", ""])
def test_everything_else_is_not_a_command(text):
    assert parse_command(text) is None


# -- the roster --------------------------------------------------------------------------------

def test_staff_add_and_remove_take_effect_at_once(world):
    who = ("linli_telegram", "7777")
    assert roles.role_of(*who) == "resident"
    ticket, wangyuan = leak(), leak(community="望园", building="3")
    assert say(who, f"/查看 {ticket.id}")["response"] == "utter_staff_refused"
    roster.add_staff(StaffMember(*who, communities=("望园",)))
    assert roles.role_of(*who) == "staff" and roles.staff_communities(*who) == ("望园社区",)
    listed = say(who, "/工单")
    assert listed["response"] == "utter_staff_ticket_list"
    assert wangyuan.id in listed["lines"] and ticket.id not in listed["lines"], "望园 staff see 望园's tickets only"
    assert staff.load_staff(world)[-1] == StaffMember(*who, communities=("望园社区",))
    assert roster.remove_staff(*who) is True
    assert roles.role_of(*who) == "resident"
    assert say(who, f"/查看 {ticket.id}")["response"] == "utter_staff_refused"
    assert roster.remove_staff(*who) is False


def test_a_hand_edited_staff_file_applies_at_the_next_command(world):
    text = world.read_text(encoding="utf-8")
    world.write_text(text.replace("- {channel: wecom, id: wangyuan-office", "- {channel: rest, id: handmade}\n"
                                  "- {channel: wecom, id: wangyuan-office"), encoding="utf-8")
    assert say(("rest", "handmade"), "/工单")["response"] == "utter_staff_no_tickets"
    world.write_text(text, encoding="utf-8")
    assert say(("rest", "handmade"), "/工单")["response"] == "utter_staff_refused"


def test_a_removed_staff_member_who_rides_stays_a_volunteer(world):
    roster.add_staff(StaffMember("rest", "rider-1"))
    rider("rider-1")
    assert roles.role_of("rest", "rider-1") == "staff"
    roster.remove_staff("rest", "rider-1")
    assert roles.role_of("rest", "rider-1") == "volunteer"


def test_staff_file_refuses_unknown_communities_and_keeps_its_comments(world):
    with pytest.raises(staff.StaffFileError) as refused:
        roster.add_staff(StaffMember("wecom", "x", communities=("火星社区",)))
    assert "火星社区" in refused.value.user_message
    assert world.read_text(encoding="utf-8").startswith("# Community staff")
    assert ("wecom", "x") not in [m.key for m in staff.load_staff(world)]


def test_notices_follow_the_staff_file_as_it_changes(world):
    policy = recipients_for(Policy.load(PACKAGE_DATA / "service.yml", "Asia/Shanghai"), world)
    assert policy.street == (Recipient("wecom", "wangyuan-street-duty"),)
    assert policy.communities["万柳西园社区"] == (Recipient("wecom", "wanliuxiyuan-office"),)
    assert policy.digest == (Recipient("wecom", "wangyuan-street-duty"),)
    roster.add_staff(StaffMember("linli_telegram", "555", communities=("望园",)))
    roster.add_staff(StaffMember("wecom", "shouhua-duty", handlers=("首华物业",)))
    assert policy.communities["望园社区"] == (Recipient("wecom", "wangyuan-office"), Recipient("linli_telegram", "555"))
    assert policy.handlers == {"首华物业": (Recipient("wecom", "shouhua-duty"),)}
    assert Recipient("wecom", "shouhua-duty") not in policy.street, "a handler's duty account is not the street"
    assert Recipient(*STAFF) not in policy.street, "notices: false means commands only"
    roster.remove_staff("linli_telegram", "555")
    assert policy.communities["望园社区"] == (Recipient("wecom", "wangyuan-office"),)


def test_a_broken_staff_file_keeps_the_last_good_recipients(world):
    policy = recipients_for(Policy.load(PACKAGE_DATA / "service.yml", "Asia/Shanghai"), world)
    world.write_text("staff:\n- {channel: wecom, id: a, communities: [火星]}\n", encoding="utf-8")
    assert policy.street == (Recipient("wecom", "wangyuan-street-duty"),)


def test_the_command_line_keeps_file_and_database_in_step(world, tmp_path):
    env = {**os.environ, "LINLI_VAR_DIR": str(tmp_path)}

    def linli(*args):
        return subprocess.run([sys.executable, "-m", "bot.cli", *args], cwd=PROJECT_ROOT, env=env,
                              capture_output=True, text=True, timeout=120)

    added = linli("staff", "add", "wecom", "zhao", "--name", "赵姐", "--community", "望园")
    assert added.returncode == 0 and "望园社区" in added.stdout, added.stderr
    assert roles.role_of("wecom", "zhao") == "staff"
    listed = linli("staff", "list")
    assert "zhao" in listed.stdout and "赵姐" in listed.stdout
    bad = linli("staff", "add", "wecom", "qian", "--community", "火星")
    assert bad.returncode == 1 and "火星" in bad.stderr and roles.role_of("wecom", "qian") == "resident"
    assert linli("staff", "remove", "wecom", "zhao").returncode == 0
    assert roles.role_of("wecom", "zhao") == "resident"
    assert "zhao" not in world.read_text(encoding="utf-8")


# -- every command is refused for anyone but staff -------------------------------------------------

EVERY_COMMAND = [f"/{words[0]} {{ticket}} {{other}}" for name, words in COMMANDS.items() if name not in OWN_INTENTS]


@pytest.mark.parametrize("who", [RESIDENT, VOLUNTEER], ids=["resident", "volunteer"])
@pytest.mark.parametrize("template", EVERY_COMMAND)
def test_every_staff_command_is_refused_for_residents_and_volunteers(who, template):
    applicant = rider("rider-1")
    pending = rider("rider-2", status="pending")
    ticket, other = leak(), leak(description="又漏了")
    assert roles.role_of(*VOLUNTEER) == "volunteer"
    before = (common.store().list(), records.list_volunteers(common.store().engine))
    message = say(who, template.format(ticket=ticket.id, other=other.id) + f" {pending.key} 万柳西园社区")
    assert message["response"] == "utter_staff_refused" and not message.get("text")
    assert (common.store().list(), records.list_volunteers(common.store().engine)) == before
    assert applicant.status == "active"


# -- what staff can do -------------------------------------------------------------------------

def test_list_show_and_the_changes_staff_make():
    ticket = leak()
    listed = say(STAFF, "/工单 西园")
    assert listed["response"] == "utter_staff_ticket_list" and ticket.id in listed["lines"]
    assert "13812345678" not in listed["lines"] and "502" not in listed["lines"]
    details = say(STAFF, f"/查看 {ticket.id}")
    assert details["phone"] == "13812345678" and "502室" in details["place"]
    assert say(STAFF, f"/工单 {ticket.id.lower()}") == details, "a ticket id after /工单 shows it"
    assert ticket.id in say(STAFF, "/list all")["lines"]
    assert say(STAFF, f"/接单 {ticket.id}")["status"] == "处理中"
    assert say(STAFF, f"/备注 {ticket.id} 已联系居民，明天上门")["response"] == "utter_staff_ticket_changed"
    assigned = say(STAFF, f"/改派 {ticket.id} 首华")
    assert assigned["handler"] == "首华物业"
    resolved = say(STAFF, f"/办结 {ticket.id} 已修好")
    assert resolved["status"].startswith("已办结")
    assert say(STAFF, f"/重办 {ticket.id} 居民说还漏")["status"] == "重新处理中"
    history = common.store().get(ticket.id).history
    assert [e.action for e in history][2:] == ["in_progress", "note", "assigned", "resolved", "reopened"]
    assert {e.actor for e in history[2:]} == {"staff:linli_telegram:9001"}
    assert history[-2].note == "已修好"


def test_in_a_group_no_phone_or_room_is_shown():
    ticket = leak()
    details = say(STAFF, f"/查看 {ticket.id}", chat_type="group")
    text = shown(details)
    assert "13812345678" not in text and "502" not in text and "5**" in details["description"]
    listed = say(STAFF, "/工单", chat_type="group")
    assert "13812345678" not in shown(listed)


def test_overdue_and_status_filters():
    late, fresh = leak(), leak(category="noise", description="楼上天天半夜蹦迪")
    common.store().clock = lambda: datetime(2099, 1, 1, tzinfo=timezone.utc)
    overdue = say(STAFF, "/工单 列表 逾期")
    assert late.id in overdue["lines"] and "逾期" in overdue["lines"]
    assert say(STAFF, "/工单 已关闭")["response"] == "utter_staff_no_tickets"
    assert say(STAFF, "/工单 火星")["text"].startswith("“火星”看不懂")
    assert fresh.id in say(STAFF, "/工单 已派单")["lines"]


def test_community_staff_see_and_change_their_communities_only():
    xiyuan, wangyuan = leak(), leak(community="望园", building="3")
    listed = say(XIYUAN_STAFF, "/工单")
    assert xiyuan.id in listed["lines"] and wangyuan.id not in listed["lines"]
    assert "不在您负责的社区" in say(XIYUAN_STAFF, f"/办结 {wangyuan.id}")["text"]
    assert "看不了" in say(XIYUAN_STAFF, "/工单 望园")["text"]
    assert common.store().get(wangyuan.id).status == "dispatched"


def test_merge_through_chat():
    first, second = leak(), leak(description="5号楼顶楼也漏", reporter_id="bob")
    merged = say(STAFF, f"/合并 {second.id} {first.id}")
    assert merged["response"] == "utter_staff_ticket_merged" and (merged["source"], merged["target"]) == (second.id, first.id)
    assert common.store().get(second.id).merged_into == first.id
    assert "两个工单号" in say(STAFF, f"/合并 {first.id}")["text"]


@pytest.mark.parametrize("text, reason", [
    ("/办结", "请写上工单号"),
    ("/办结 GD209901010001", "没有找到工单"),
    ("/改派 {id} 火星物业", "没有“火星物业”"),
    ("/备注 {id}", "备注不能为空"),
    ("/重办 {id}", "不能改成"),
    ("/批准 无名氏", "没找到志愿者"),
    ("/积分 2026-13", "月份"),
])
def test_bad_commands_say_why_and_change_nothing(text, reason):
    ticket = leak()
    message = say(STAFF, text.format(id=ticket.id))
    assert reason in message["text"], message
    assert common.store().get(ticket.id) == ticket


def test_volunteer_commands():
    pending = rider("rider-9", status="pending")
    listed = say(STAFF, "/志愿者 待审核")
    assert pending.key in listed["lines"] and "13900001111" in listed["lines"]
    assert "13900001111" not in say(STAFF, "/志愿者", chat_type="group")["lines"]
    approved = say(STAFF, f"/批准 {pending.key}")
    assert approved["response"] == "utter_staff_volunteer_approved" and approved["times"] == "11:00"
    assert roles.role_of("rest", "rider-9") == "volunteer"
    assert say(STAFF, "/暂停 张强")["response"] == "utter_staff_volunteer_paused"
    assert roles.role_of("rest", "rider-9") == "resident"
    points = say(STAFF, "/积分")
    assert "张强（美团）：隐患上报已解决 0 件，平安巡查 0 次" in points["lines"]


def test_unknown_words_get_the_command_list():
    assert say(STAFF, "/命令")["response"] == "utter_staff_commands"


def test_nothing_here_reads_roles_from_message_metadata():
    """WeChat Work marks its users "staff" in metadata; only the roster decides."""
    message = ActionStaffCommand()
    dispatcher = CollectingDispatcher()
    fake = tracker("/工单", "nobody", "wecom")
    fake.latest_message["metadata"]["role"] = "staff"
    asyncio.run(message.run(dispatcher, fake, {}))
    assert dispatcher.messages[0]["response"] == "utter_staff_refused"


def test_the_default_staff_file_loads():
    members = staff.load_staff(Path(PACKAGE_DATA / "staff.yml"))
    assert {m.id for m in members} == {"wangyuan-street-duty", "wanliuxiyuan-office", "wangyuan-office"}


async def test_telegram_passes_staff_commands_to_the_dialogue():
    """Telegram marks "/list" as a platform command; the channel hands staff ones on as text."""
    from bot.channels import Direct, Inbound
    from bot.channels.telegram import COMMAND_HELP, TelegramInput, TelegramSettings

    channel = TelegramInput(TelegramSettings(token="1:test", secret_token="secret"))
    assert await channel._command("list", "overdue", {"chat_type": "group"}, False) == Inbound(
        "/list overdue", {"chat_type": "group", "command": "list"})
    assert await channel._command("resolve", "GD202611220007 已修好", {}, True) == Inbound(
        "/resolve GD202611220007 已修好", {"command": "resolve"})
    assert await channel._command("dance", "", {}, True) == Direct(COMMAND_HELP)


def test_roster_and_roles_on_both_backends(engine, tmp_path):
    staff_yml = tmp_path / "roster.yml"
    shutil.copy(PACKAGE_DATA / "staff.yml", staff_yml)
    roster.add_staff(StaffMember("wecom", "pg-zhou", communities=("望园东里",)), engine, staff_yml)
    assert roles.role_of("wecom", "pg-zhou", engine) == "staff"
    assert roles.staff_communities("wecom", "pg-zhou", engine) == ("望园社区",)
    assert roles.role_of("linli_telegram", "-1001:42", engine) == "resident"
    roster.add_staff(StaffMember("linli_telegram", "42"), engine, staff_yml)
    assert roles.role_of("linli_telegram", "-1001:42", engine) == "staff", "a group member is the same person"
    roster.remove_staff("wecom", "pg-zhou", engine, staff_yml)
    assert roles.role_of("wecom", "pg-zhou", engine) == "resident"
    assert roster.sync_staff(engine, staff_yml) == 4


@pytest.mark.parametrize("text, intent, entities", [
    ("/办结 GD202611220007 已修好", "staff_command",
     {"command": "resolve", "command_args": "GD202611220007 已修好"}),
    ("/通知 望园社区 明天9点到12点停水", "broadcast_preview", {"command": "broadcast", "command_args": "望园社区 明天9点到12点停水"}),
    ("/取消通知 #12", "broadcast_cancel", {"command": "broadcast_cancel", "command_args": "#12", "broadcast_id": "12"}),
])
def test_commands_override_the_model_intent_and_entities(text, intent, entities):
    from rasa.shared.nlu.training_data.message import Message

    from bot.nlu.commands import StaffCommandRecognizer

    message = Message(data={"text": text, "intent": {"name": "report_issue", "confidence": 0.9},
                            "entities": [{"entity": "community", "value": "望园社区"}]})
    StaffCommandRecognizer().process([message])
    assert message.get("intent")["name"] == intent
    assert {e["entity"]: e["value"] for e in message.get("entities")} == entities
