"""The workbench refuses what it must, over plain HTTP against a running console: no session, an
expired or reused link, another community's ticket, a missing or wrong CSRF token; and no full phone
number where it may not be shown."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from bot.callbacks import store as callbacks
from bot.core.db import session_scope
from bot.handlers.models import ExtensionRequest
from bot.tickets.store import TicketStore
from bot.workbench.models import AuditEntry, ConsoleSession
from tests.workbench.conftest import SHOUHUA, STREET, WANGYUAN, XIYUAN, start_console

PHONE = "13812345678"
PAGES = ["/tickets", "/tickets.csv", "/broadcasts", "/figures", "/volunteers", "/misunderstood", "/audit", "/callbacks"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    console = start_console(tmp_path_factory.mktemp("console-security"))
    store = TicketStore(engine=console.engine)
    wangyuan = store.create(category="leak", description=f"屋顶漏水，电话{PHONE}", reporter_channel="wechat",
                            reporter_id="oResident0001", community="望园社区", building="3", unit="2", room="502",
                            phone=PHONE)
    xiyuan = store.create(category="noise", description="楼下装修太吵", reporter_channel="wechat",
                          reporter_id="oResident0002", community="万柳西园社区", building="5", phone="13900008888")
    mine, _ = callbacks.request(store, "wechat", "oResident0001", phone=PHONE)  # about the 望园社区 ticket
    theirs, _ = callbacks.request(store, "wechat", "oResident0002", phone="13900008888")
    nowhere, _ = callbacks.request(store, "wechat", "oNowhere0001", phone="13700007777")  # no community: the street's
    console.extra.update(wangyuan=wangyuan.id, xiyuan=xiyuan.id, store=store, callback=mine.id,
                         their_callback=theirs.id, nowhere=nowhere.id)
    yield console
    console.stop()


def ticket_pages(site) -> list[str]:
    return [f"/tickets/{site.extra['wangyuan']}", f"/tickets/{site.extra['wangyuan']}/state.json",
            f"/tickets/{site.extra['wangyuan']}/photos/0", "/broadcasts/1", "/broadcasts/1/progress.json"]


def actions(site) -> list[tuple[str, dict]]:
    ticket = site.extra["wangyuan"]
    return [(f"/tickets/{ticket}/{action}", {"text": "x"}) for action in
            ("start", "assign", "note", "resolve", "reopen", "merge", "accept", "extension", "extension_decide")] + [
        (f"/callbacks/{site.extra['callback']}/done", {"note": "x"}),
        ("/broadcasts/preview", {"text": "停水"}), ("/broadcasts/send", {"text": "停水"}), ("/broadcasts/1/cancel", {}),
        ("/volunteers/approve", {"who": "x"}), ("/volunteers/pause", {"who": "x"}),
        ("/misunderstood/1/label", {"intent": "greet"}), ("/logout", {})]


def history(site, ticket_id: str) -> int:
    return len(site.extra["store"].get(ticket_id).history)


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def test_without_a_session_every_page_and_action_is_refused(site):
    client = site.client(None)
    before = history(site, site.extra["wangyuan"])
    for path in PAGES + ticket_pages(site):
        response = client.get(path)
        assert response.status_code == 401, path
        assert PHONE not in response.text
    for path, form in actions(site):
        assert client.post(path, data=form).status_code == 401, path
    assert history(site, site.extra["wangyuan"]) == before
    # a made-up cookie is no session either
    client.cookies.set("linli_console", "made-up")
    assert client.get("/tickets").status_code == 401


def test_a_link_opens_one_session_once_and_the_cookie_is_http_only(site):
    client = site.client(None)
    token = site.link(WANGYUAN)
    confirm = client.get(f"/login?t={token}")
    assert confirm.status_code == 200 and "进入工作台" in confirm.text  # looking at it uses nothing
    assert client.get(f"/login?t={token}").status_code == 200
    signed = client.post("/login", data={"t": token})
    assert signed.status_code == 303 and signed.headers["location"] == "/tickets"
    cookie = signed.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie
    assert client.get("/tickets").status_code == 200

    again = site.client(None)
    reused = again.post("/login", data={"t": token})
    assert reused.status_code == 410 and "已经用过或已经过期" in reused.text
    assert again.get(f"/login?t={token}").status_code == 410
    assert again.get("/tickets").status_code == 401
    assert again.post("/login", data={"t": "not-a-token"}).status_code == 410
    assert again.get("/login?t=not-a-token").status_code == 404
    with session_scope(site.engine) as session:
        token_stored = session.execute(select(ConsoleSession.token_hash)).scalars().all()
    assert token not in token_stored and all(len(h) == 64 for h in token_stored)  # hashes only


def test_an_expired_link_is_refused_with_a_clear_page(site):
    token = site.link(STREET, now=datetime.now(timezone.utc) - timedelta(minutes=11))
    client = site.client(None)
    page = client.get(f"/login?t={token}")
    assert page.status_code == 410 and "登录链接只能用一次，几分钟内有效" in page.text
    assert client.post("/login", data={"t": token}).status_code == 410
    assert client.get("/tickets").status_code == 401


def test_an_expired_or_ended_session_opens_nothing(site):
    client = site.client(STREET)
    assert client.get("/tickets").status_code == 200
    with session_scope(site.engine) as session:
        session.execute(update(ConsoleSession).values(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
    assert client.get("/tickets").status_code == 401

    other = site.client(STREET)
    page = other.get("/tickets")
    assert other.post("/logout", data={"csrf": csrf_of(page.text)}).status_code == 200
    assert other.get("/tickets").status_code == 401


def test_another_communitys_ticket_is_neither_shown_nor_changed(site):
    client = site.client(WANGYUAN)
    mine, theirs = site.extra["wangyuan"], site.extra["xiyuan"]
    queue = client.get("/tickets")
    assert mine in queue.text and theirs not in queue.text
    assert client.get("/tickets?community=万柳西园社区").text.count(theirs) == 0
    assert theirs not in client.get("/tickets.csv").text
    csrf = csrf_of(queue.text)
    before = history(site, theirs)
    for path in (f"/tickets/{theirs}", f"/tickets/{theirs}/state.json", f"/tickets/{theirs}/photos/0"):
        assert client.get(path).status_code == 403, path
    for action in ("start", "note", "resolve", "assign"):
        refused = client.post(f"/tickets/{theirs}/{action}", data={"csrf": csrf, "text": "首华物业"})
        assert refused.status_code == 403, action
    merged = client.post(f"/tickets/{mine}/merge", data={"csrf": csrf, "text": theirs})
    assert merged.status_code == 409 and "不在您负责的范围内" in merged.text
    assert history(site, theirs) == before
    with session_scope(site.engine) as session:
        refused = session.execute(select(AuditEntry).where(AuditEntry.outcome == "refused",
                                                           AuditEntry.ticket_id == theirs)).scalars().all()
    assert {r.action for r in refused} >= {"refused_scope"} and all(r.ip == "127.0.0.1" for r in refused)
    assert all((r.channel, r.sender_id) == WANGYUAN for r in refused)


def test_a_change_needs_the_sessions_csrf_token(site):
    client = site.client(STREET)
    ticket = site.extra["wangyuan"]
    page = client.get(f"/tickets/{ticket}")
    before = history(site, ticket)
    assert client.post(f"/tickets/{ticket}/note", data={"text": "没有令牌"}).status_code == 403
    assert client.post(f"/tickets/{ticket}/note", data={"text": "错的令牌", "csrf": "wrong"}).status_code == 403
    other = site.client(STREET)
    foreign = csrf_of(other.get("/tickets").text)  # another session's token is a wrong token too
    assert client.post(f"/tickets/{ticket}/note", data={"text": "别人的令牌", "csrf": foreign}).status_code == 403
    assert history(site, ticket) == before
    done = client.post(f"/tickets/{ticket}/note", data={"text": "已联系物业", "csrf": csrf_of(page.text)})
    assert done.status_code == 303 and done.headers["location"] == f"/tickets/{ticket}?done=note"
    assert history(site, ticket) == before + 1
    assert site.extra["store"].get(ticket).history[-1].actor == "staff:wecom:wangyuan-street-duty"
    with session_scope(site.engine) as session:
        entries = session.execute(select(AuditEntry).where(AuditEntry.ticket_id == ticket)
                                  .order_by(AuditEntry.id)).scalars().all()
        csrf_refusals = session.execute(select(AuditEntry).where(AuditEntry.action == "refused_csrf")).scalars().all()
    assert [e.action for e in entries if e.outcome == "ok"][-1] == "ticket_note"
    assert len(csrf_refusals) >= 3 and all(e.detail == f"POST /tickets/{ticket}/note" for e in csrf_refusals[-3:])


def test_the_full_phone_shows_only_on_the_ticket_page_of_staff_serving_its_community(site):
    ticket = site.extra["wangyuan"]
    for who in (WANGYUAN, STREET):
        client = site.client(who)
        queue = client.get("/tickets")
        assert "138****5678" in queue.text and PHONE not in queue.text
        assert "5**" in queue.text and "502" not in queue.text.replace(ticket, "")
        csv = client.get("/tickets.csv")
        assert csv.status_code == 200 and csv.content.startswith("\ufeff".encode())
        assert "138****5678" in csv.text and PHONE not in csv.text
        detail = client.get(f"/tickets/{ticket}")
        assert PHONE in detail.text and "502室" in detail.text
    xiyuan = site.client(XIYUAN)
    assert PHONE not in xiyuan.get("/tickets").text
    assert PHONE not in xiyuan.get(f"/tickets/{ticket}").text
    with session_scope(site.engine) as session:
        views = session.execute(select(AuditEntry).where(AuditEntry.action == "ticket_view",
                                                         AuditEntry.ticket_id == ticket)).scalars().all()
    assert {(v.channel, v.sender_id) for v in views} == {WANGYUAN, STREET}  # who saw the number is on record


def test_someone_taken_off_the_roster_loses_the_workbench_at_once(site):
    client = site.client(XIYUAN)
    assert client.get("/tickets").status_code == 200
    roster = site.staff_file.read_text(encoding="utf-8")
    try:
        site.staff_file.write_text("\n".join(line for line in roster.splitlines()
                                             if "wanliuxiyuan-office" not in line) + "\n", encoding="utf-8")
        page = client.get("/tickets")
        assert page.status_code == 401 and "不在工作人员名单里" in page.text
    finally:
        site.staff_file.write_text(roster, encoding="utf-8")


def test_pages_carry_headers_that_keep_them_to_themselves(site):
    page = site.client(STREET).get("/tickets")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-frame-options"] == "DENY" and page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["cache-control"] == "no-store"


def test_the_audit_log_is_for_the_streets_staff(site):
    site.client(WANGYUAN).get(f"/tickets/{site.extra['xiyuan']}")  # refused, and on record
    assert site.client(WANGYUAN).get("/audit").status_code == 403
    page = site.client(STREET).get(f"/audit?ticket={site.extra['xiyuan']}")
    assert page.status_code == 200 and "越权访问（已拒绝）" in page.text and "望园社区办公室" in page.text


def test_a_handlers_contact_signs_in_from_chat_and_sees_only_its_own_tickets(site):
    from urllib.parse import parse_qs, urlparse

    from bot.workbench import auth

    store = site.extra["store"]
    theirs = store.create(category="leak", description="5号楼屋顶漏水", reporter_channel="wechat",
                          reporter_id="oResident0003", community="万柳西园社区", building="5")
    assert theirs.handler_name == "首华物业"
    url = auth.issue_link("wecom", "shouhua-desk", site.engine)  # what /登录 answers them in WeChat Work
    with pytest.raises(auth.SignInError):
        auth.issue_link("wecom", "somebody-else", site.engine)
    client = site.client(None)
    assert client.post("/login", data={"t": parse_qs(urlparse(url).query)["t"][0]}).status_code == 303
    queue = client.get("/tickets").text
    assert theirs.id in queue
    others = [ticket for ticket in (store.get(site.extra[k]) for k in ("wangyuan", "xiyuan"))
              if ticket.handler_name != "首华物业"]
    assert others and all(ticket.id not in queue for ticket in others)
    assert client.get(f"/tickets/{others[0].id}").status_code == 403
    assert client.get("/broadcasts").status_code == 403, "notices are for staff"


# -- the handler's side and the call-backs ------------------------------------------------------------

def refusals(site, action: str) -> list:
    with session_scope(site.engine) as session:
        return session.execute(select(AuditEntry).where(AuditEntry.action == action, AuditEntry.outcome == "refused")
                               ).scalars().all()


def test_signing_for_asking_for_days_and_marking_a_call_back_done_need_the_csrf_token(site):
    client = site.client(STREET)
    ticket, callback = site.extra["wangyuan"], site.extra["callback"]
    before = history(site, ticket)
    for action, form in (("accept", {}), ("extension", {"days": "3", "text": "等配件"}),
                         ("extension_decide", {"decision": "approve"})):
        assert client.post(f"/tickets/{ticket}/{action}", data=form).status_code == 403, action
        assert client.post(f"/tickets/{ticket}/{action}", data={**form, "csrf": "wrong"}).status_code == 403, action
    assert client.post(f"/callbacks/{callback}/done", data={"note": "没有令牌"}).status_code == 403
    assert history(site, ticket) == before
    assert callbacks.get(site.extra["store"], callback).status == "open"
    with session_scope(site.engine) as session:
        refused = session.execute(select(AuditEntry.detail).where(AuditEntry.action == "refused_csrf")).scalars().all()
    assert f"POST /callbacks/{callback}/done" in refused and f"POST /tickets/{ticket}/accept" in refused


def test_another_communitys_call_back_and_ticket_are_neither_shown_nor_changed(site):
    client = site.client(WANGYUAN)
    mine, theirs, xiyuan = site.extra["callback"], site.extra["their_callback"], site.extra["xiyuan"]
    queue = client.get("/callbacks")
    assert queue.status_code == 200
    assert f'data-callback="{mine}"' in queue.text and f'data-callback="{theirs}"' not in queue.text
    assert f'data-callback="{site.extra["nowhere"]}"' not in queue.text  # the street's, not a community's
    csrf = csrf_of(queue.text)
    refused = client.post(f"/callbacks/{theirs}/done", data={"csrf": csrf, "note": "不是我们的"})
    assert refused.status_code == 403 and "不在您负责的社区" in refused.text
    assert callbacks.get(site.extra["store"], theirs).status == "open"
    with session_scope(site.engine) as session:
        scope = session.execute(select(AuditEntry).where(AuditEntry.action == "refused_scope",
                                                         AuditEntry.target == str(theirs))).scalars().all()
    assert scope and all((e.channel, e.sender_id) == WANGYUAN for e in scope)
    before = history(site, xiyuan)
    for action in ("accept", "extension", "extension_decide"):
        assert client.post(f"/tickets/{xiyuan}/{action}", data={"csrf": csrf, "days": "3", "text": "x",
                                                                "decision": "approve"}).status_code == 403, action
    assert client.get(f"/tickets/{xiyuan}/report-photos/{'a' * 32}.png").status_code == 403
    own = f"/tickets/{site.extra['wangyuan']}/report-photos"
    assert client.get(f"{own}/{'a' * 32}.png").status_code == 404  # only photos its history names
    assert client.get(f"{own}/..%2F..%2Flinli.db").status_code == 404
    assert history(site, xiyuan) == before
    assert client.post("/callbacks/999999/done", data={"csrf": csrf}).status_code == 404


def test_staff_who_are_not_the_handler_cannot_sign_and_a_handler_cannot_approve_its_own_extension(site):
    store = site.extra["store"]
    ticket = store.create(category="leak", description="6号楼屋顶漏水", reporter_channel="wechat",
                          reporter_id="oResident0006", community="万柳西园社区", building="6")
    assert ticket.handler_name == "首华物业"
    street = site.client(STREET)
    signed = street.post(f"/tickets/{ticket.id}/accept", data={"csrf": csrf_of(street.get("/tickets").text)})
    assert signed.status_code == 409 and "只有承办单位（首华物业）的接单人能签收" in signed.text
    assert history(site, ticket.id) == 1 + 1  # created, dispatched: nothing more

    handler = site.client(SHOUHUA, role="handler")
    csrf = csrf_of(handler.get(f"/tickets/{ticket.id}").text)
    assert handler.post(f"/tickets/{ticket.id}/accept", data={"csrf": csrf}).status_code == 303
    again = handler.post(f"/tickets/{ticket.id}/accept", data={"csrf": csrf})
    assert again.status_code == 409 and "首华物业已经签收了" in again.text
    asked = handler.post(f"/tickets/{ticket.id}/extension", data={"csrf": csrf, "days": "99", "text": "等配件"})
    assert asked.status_code == 409 and "延期天数请写1到15之间的数字" in asked.text
    assert handler.post(f"/tickets/{ticket.id}/extension", data={"csrf": csrf, "days": "4", "text": "等配件"}
                        ).status_code == 303
    approved = handler.post(f"/tickets/{ticket.id}/extension_decide", data={"csrf": csrf, "decision": "approve"})
    assert approved.status_code == 409 and "只有万柳西园社区的工作人员能审批延期" in approved.text
    with session_scope(site.engine) as session:
        [request] = session.execute(select(ExtensionRequest).where(ExtensionRequest.ticket_id == ticket.id)).scalars()
        assert request.status == "pending"
    assert any(e.ticket_id == ticket.id for e in refusals(site, "ticket_extension_decide"))
    assert handler.get("/callbacks").status_code == 403, "call-backs are the community's"
    assert handler.post(f"/callbacks/{site.extra['their_callback']}/done", data={"csrf": csrf}).status_code == 403

    staff = site.client(XIYUAN)
    decided = staff.post(f"/tickets/{ticket.id}/extension_decide",
                         data={"csrf": csrf_of(staff.get("/tickets").text), "decision": "refuse"})
    assert decided.status_code == 303
    assert store.get(ticket.id).history[-1].action == "extension_refused"
    assert store.get(ticket.id).history[-1].actor == "staff:wecom:wanliuxiyuan-office"


def test_a_call_backs_phone_shows_in_full_only_to_whoever_must_call(site):
    mine, nowhere = site.extra["callback"], site.extra["nowhere"]
    assert site.client(WANGYUAN).get("/callbacks").text.count(f'data-callback="{nowhere}"') == 0
    community = site.client(WANGYUAN).get("/callbacks").text
    assert PHONE in community  # 望园社区's staff call their residents
    street = site.client(STREET).get("/callbacks").text
    assert f'data-callback="{mine}"' in street and PHONE not in street and "138****5678" in street  # supervises
    assert "13700007777" in street  # a call-back of no community is the street's to make
    with session_scope(site.engine) as session:
        views = session.execute(select(AuditEntry).where(AuditEntry.action == "callbacks_view")).scalars().all()
    assert {(v.channel, v.sender_id) for v in views} >= {WANGYUAN, STREET}
    assert any(f"#{mine}" in v.detail for v in views if (v.channel, v.sender_id) == WANGYUAN)

    roster = site.staff_file.read_text(encoding="utf-8")
    try:  # a handler's duty account: only the call-back about its own ticket
        site.staff_file.write_text(roster + "- {channel: wecom, id: shouhua-duty-account, name: 首华值班账号, "
                                            "communities: [万柳西园社区], handlers: [首华物业]}\n", encoding="utf-8")
        unlinked, _ = callbacks.request(site.extra["store"], "wechat", "oWest0009", phone="13600006666",
                                        community="万柳西园社区")
        duty = site.client(("wecom", "shouhua-duty-account")).get("/callbacks").text
        assert "13900008888" in duty  # about the 首华物业 ticket
        assert f'data-callback="{unlinked.id}"' in duty and "13600006666" not in duty and "136****6666" in duty
    finally:
        site.staff_file.write_text(roster, encoding="utf-8")
