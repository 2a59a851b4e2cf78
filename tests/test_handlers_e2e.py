"""The handler's side end to end: a real Linli stack (Rasa server with the REST and WeChat Work
channels, action server), the WeChat Work stand-in as the handlers' and staff's platform, and the
scheduler in this process on a manual clock. Residents report through the REST channel; handlers
answer the dispatch notice by its numbered buttons in WeChat Work, as they would on the platform."""
from __future__ import annotations

import os
import re
import uuid
from datetime import datetime, time, timedelta, timezone

import pytest
import yaml
from sqlalchemy import create_engine

from bot.core.clock import ManualClock
from bot.handlers.work import returns_by_handler
from bot.messaging.delivery import delivered
from bot.staff.tickets import act
from bot.tickets.store import TicketStore
from bot.workflows import followups
from tests.scheduling import BEIJING, start_scheduler, wait_for
from tests.stack import start_stack, ticket_id_in
from tests.standins.server import LoopThread
from tests.standins.wecom import WeComStandIn

pytestmark = pytest.mark.slow
WECOM_CLASS = "bot.channels.wecom.WeComInput"
MEMBERS = {"shouhua-desk", "shouhua-control", "xiyuan-office", "dianche-desk", "street-duty"}
HANDLERS = {"handlers": [
    {"name": "首华物业", "contacts": [
        {"channel": "wechat", "id": "oShouhuaDesk", "name": "客服微信", "hours": "08:00-20:00"},  # no WeChat here
        {"channel": "wecom", "id": "shouhua-desk", "name": "客服值班", "hours": "08:00-20:00"},
        {"channel": "wecom", "id": "shouhua-control", "name": "中控室夜班", "night": True}]},
    {"name": "万柳西园社区", "contacts": [{"channel": "wecom", "id": "xiyuan-office", "name": "社区办公室"}]},
    {"name": "北京市电车公司", "contacts": [{"channel": "wecom", "id": "dianche-desk", "name": "房产科"}]},
]}
STAFF = {"staff": [{"channel": "wecom", "id": "street-duty", "name": "街道值班", "digest": True},
                   {"channel": "wecom", "id": "xiyuan-office", "name": "万柳西园社区办公室", "communities": ["万柳西园社区"]}]}


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    loop = LoopThread()
    wecom = loop.run(WeComStandIn(members=set(MEMBERS)).start())
    tmp = tmp_path_factory.mktemp("handlers_e2e")
    files = {"handlers_file": tmp / "handlers.yml", "staff_file": tmp / "staff.yml", "credentials": tmp / "credentials.yml"}
    files["handlers_file"].write_text(yaml.safe_dump(HANDLERS, allow_unicode=True), encoding="utf-8")
    files["staff_file"].write_text(yaml.safe_dump(STAFF, allow_unicode=True), encoding="utf-8")
    files["credentials"].write_text(yaml.safe_dump({"rest": None, WECOM_CLASS: wecom.credentials()}), encoding="utf-8")
    stack = start_stack(tmp, **{key: str(path) for key, path in files.items()})
    wecom.callback_url = f"{stack.url}/webhooks/wecom/webhook"
    saved = {name: os.environ.get(name) for name in ("LINLI_HANDLERS_FILE", "LINLI_STAFF_FILE")}
    os.environ.update(LINLI_HANDLERS_FILE=str(files["handlers_file"]), LINLI_STAFF_FILE=str(files["staff_file"]))
    engine = create_engine(stack.env["LINLI_DATABASE_URL"], future=True)
    yield loop, stack, wecom, engine
    for name, value in saved.items():
        os.environ.pop(name, None) if value is None else os.environ.__setitem__(name, value)
    stack.stop()
    engine.dispose()
    loop.run(wecom.stop())
    loop.close()


def next_local(hour: int) -> datetime:
    """The next time it is ``hour``:00 in Beijing (within a day: the steps the action server wrote
    just now are still recent for the scheduler)."""
    now = datetime.now(BEIJING)
    moment = datetime.combine(now.date(), time(hour), BEIJING)
    return (moment if moment > now else moment + timedelta(days=1)).astimezone(timezone.utc)


def scheduler_at(platform, hour: int):
    _, stack, _, engine = platform
    return start_scheduler(engine, stack.url, ManualClock(next_local(hour)), collecting_channels=("rest",))


def advance(work, **delta):
    work.clock.advance(**delta)
    work.schedule.wait_idle(60)


def complain(stack, text: str) -> tuple[str, str]:
    resident = f"r-{uuid.uuid4().hex[:6]}"
    stack.texts(resident, text)
    return resident, ticket_id_in(stack.texts(resident, "确认"))


def received(wecom, user: str, containing: str) -> str:
    """The last WeChat Work message ``user`` got that contains ``containing`` (waits for it)."""
    wait_for(lambda: any(containing in t for t in wecom.app_texts(user)),
             message=f"{user} receiving “{containing}” (got {wecom.app_texts(user)}, errors {wecom.errors()})")
    return [t for t in wecom.app_texts(user) if containing in t][-1]


def say(platform, user: str, fields: dict) -> str:
    """One message from a WeChat Work user; the answer, passive or through the API."""
    loop, _, wecom, _ = platform
    before = len(wecom.app_texts(user))
    answer = loop.run(wecom.push(fields))
    assert answer.status == 200, answer
    passive = (answer.reply or {}).get("Content", "")
    if not passive:
        wait_for(lambda: len(wecom.app_texts(user)) > before, message=f"an answer to {user}")
    return passive + "\n".join(wecom.app_texts(user)[before:])


def choose(platform, user: str, notice: str, title: str) -> str:
    """Answers a numbered button list with the number of ``title``, as a handler would."""
    number = re.search(rf"(\d+)\. {title}", notice)
    assert number, f"no button {title} in: {notice}"
    return say(platform, user, platform[2].text(user, number.group(1)))


def history(tickets: TicketStore, ticket_id: str, *actions: str) -> list[tuple[str, str, str]]:
    return [(e.action, e.actor, e.note) for e in tickets.get(ticket_id).history if e.action in actions]


def test_complaint_reaches_the_handler_who_signs_reports_back_with_a_photo_and_the_resident_is_followed_up(platform):
    _, stack, wecom, engine = platform
    tickets = TicketStore(engine=engine)
    resident, ticket_id = complain(stack, "万柳西园5号楼2单元502屋顶漏水了，下雨就往下滴，电话13812345678")
    scheduler = scheduler_at(platform, 10)
    try:
        work = scheduler.context
        advance(work, seconds=2)
        notice = received(wecom, "shouhua-desk", ticket_id)
        assert "13812345678" in notice and "万柳西园社区5号楼2单元502室" in notice and "漏雨渗水" in notice
        assert [t for t in ("签收", "退回", "反馈") if re.search(rf"\d\. {t}", notice)] == ["签收", "退回", "反馈"]
        assert history(tickets, ticket_id, "handler_notice_failed", "handler_notified") == [
            ("handler_notice_failed", "linli", "通知首华物业（客服微信）失败：未配置微信"),
            ("handler_notified", "linli", "已通知首华物业（客服值班）")]
        failed = [r for r in delivered(engine, f"dispatch:{ticket_id}:") if r.status == "failed"]
        assert [(r.channel, r.error) for r in failed] == [("wechat", "channel not configured: wechat")]

        signed = choose(platform, "shouhua-desk", notice, "签收")
        assert "已签收" in signed and tickets.get(ticket_id).status == "in_progress"
        assert history(tickets, ticket_id, "accepted") == [("accepted", "wecom:shouhua-desk", "首华物业已签收，签收人：客服值班")]
        advance(work, seconds=61)  # the sweep announces the step to the resident
        [news] = [r for r in delivered(engine, "progress:") if r.conversation_id == resident]
        assert "已有人接单" in " ".join(m.get("text", "") for m in news.messages)

        asked = choose(platform, "shouhua-desk", signed, "反馈")
        assert "怎么处理" in asked
        photo = {**wecom.text("shouhua-desk", ""), "MsgType": "image", "PicUrl": "http://127.0.0.1/p.jpg",
                 "MediaId": "MEDIA-ROOF-1"}
        photo.pop("Content")
        assert "照片收到了" in say(platform, "shouhua-desk", photo)
        done = say(platform, "shouhua-desk", wecom.text("shouhua-desk", "已重新铺了屋面防水卷材，试水不漏了"))
        assert "已办结" in done
        resolved = tickets.get(ticket_id)
        assert resolved.status == "resolved"
        assert history(tickets, ticket_id, "handler_photos", "resolved") == [
            ("handler_photos", "wecom:shouhua-desk", "首华物业（客服值班）现场照片：MEDIA-ROOF-1"),
            ("resolved", "wecom:shouhua-desk", "已重新铺了屋面防水卷材，试水不漏了")]
        advance(work, seconds=61)  # the resident hears it is done
        told = " ".join(m.get("text", "") for r in delivered(engine, "progress:") if r.conversation_id == resident
                        for m in r.messages)
        assert "首华物业说已经办好了（已重新铺了屋面防水卷材，试水不漏了）" in told
        [followup] = followups.followups(engine, ticket_id)
        work.clock.set(max(followup.due_at, work.clock()))
        work.schedule.wait_idle(60)
        [question] = delivered(engine, f"followup:{ticket_id}:1:ask")
        assert question.status == "sent" and "解决了吗" in question.messages[0]["text"]
    finally:
        scheduler.stop()


def test_an_emergency_at_3am_reaches_the_night_contact_at_once(platform):
    _, stack, wecom, engine = platform
    _, ticket_id = complain(stack, "万柳西园3号楼1单元电梯困人了，快来人，电话13812349876")
    scheduler = scheduler_at(platform, 3)
    try:
        advance(scheduler.context, seconds=2)
        # the dispatch notice, the one message with the full phone (a whistle there too, when 03:00
        # is past the 2-hour deadline, masks it)
        notice = received(wecom, "shouhua-control", "13812349876")
        assert "紧急" in notice and ticket_id in notice
        assert not any(ticket_id in t for t in wecom.app_texts("shouhua-desk")), "the day desk is off duty"
    finally:
        scheduler.stop()


def test_a_notice_not_signed_in_time_reaches_the_community(platform):
    _, stack, wecom, engine = platform
    _, ticket_id = complain(stack, "万柳西园2号楼1单元楼道里堆满了纸箱，电话13812340001")
    scheduler = scheduler_at(platform, 10)
    try:
        advance(scheduler.context, seconds=2)
        received(wecom, "shouhua-desk", ticket_id)
        advance(scheduler.context, hours=4, minutes=1)
        alert = received(wecom, "xiyuan-office", "未签收")
        assert ticket_id in alert and "首华物业" in alert
        [(_, _, note)] = history(TicketStore(engine=engine), ticket_id, "sign_for_overdue")
        assert note == "首华物业超过4小时未签收，已告知万柳西园社区"
    finally:
        scheduler.stop()


def test_a_return_goes_back_to_the_community_and_is_dispatched_again(platform):
    _, stack, wecom, engine = platform
    tickets = TicketStore(engine=engine)
    _, ticket_id = complain(stack, "万柳西园6号楼楼上天天半夜装修，噪音太大了，电话13812340002")
    scheduler = scheduler_at(platform, 10)
    try:
        work = scheduler.context
        advance(work, seconds=2)
        notice = received(wecom, "shouhua-desk", ticket_id)
        assert "原因" in choose(platform, "shouhua-desk", notice, "退回")
        returned = say(platform, "shouhua-desk", wecom.text("shouhua-desk", "6号楼这户是电车公司的宿舍，不归我们管"))
        assert "已退回" in returned and "万柳西园社区" in returned
        assert tickets.get(ticket_id).handler_name == "万柳西园社区"
        assert returns_by_handler(engine) == {"首华物业": 1}
        advance(work, seconds=2)
        received(wecom, "xiyuan-office", ticket_id)
        act(tickets, "assign", ticket_id, "staff:wecom:xiyuan-office", "北京市电车公司")  # `linli tickets assign`
        advance(work, seconds=2)
        again = received(wecom, "dianche-desk", ticket_id)
        assert "13812340002" in again
        assert [a for a, _, _ in history(tickets, ticket_id, "returned", "assigned", "handler_notified")] == [
            "handler_notified", "returned", "handler_notified", "assigned", "handler_notified"]
        signed = choose(platform, "dianche-desk", again, "签收")
        assert "已签收" in signed and tickets.get(ticket_id).status == "in_progress"
    finally:
        scheduler.stop()


def test_an_extension_asked_in_chat_is_approved_by_the_community_in_chat(platform):
    _, stack, wecom, engine = platform
    tickets = TicketStore(engine=engine)
    _, ticket_id = complain(stack, "万柳西园4号楼门口垃圾好几天没人清了，味道很大，电话13812340003")
    scheduler = scheduler_at(platform, 10)
    try:
        work = scheduler.context
        advance(work, seconds=2)
        signed = choose(platform, "shouhua-desk", received(wecom, "shouhua-desk", ticket_id), "签收")
        assert "几天" in choose(platform, "shouhua-desk", signed, "申请延期")
        assert "1到15" in say(platform, "shouhua-desk", wecom.text("shouhua-desk", "一个月"))
        assert "原因" in say(platform, "shouhua-desk", wecom.text("shouhua-desk", "3"))
        before = tickets.get(ticket_id).deadline
        assert "已提交" in say(platform, "shouhua-desk", wecom.text("shouhua-desk", "垃圾清运车这周检修"))
        advance(work, seconds=2)
        asked = received(wecom, "xiyuan-office", "延期申请")
        assert ticket_id in asked and "垃圾清运车这周检修" in asked
        decided = choose(platform, "xiyuan-office", asked, "同意")
        assert "已同意" in decided and tickets.get(ticket_id).deadline == before + timedelta(days=3)
        assert [a for a, _, _ in history(tickets, ticket_id, "extension_requested", "extension_approved")] == [
            "extension_requested", "extension_approved"]
        assert history(tickets, ticket_id, "extension_approved")[0][1] == "staff:wecom:xiyuan-office"
    finally:
        scheduler.stop()
