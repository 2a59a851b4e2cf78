"""The workbench's routes (Sanic 21.12 + Jinja2). Each request is authenticated, and each page's
work (database reads, a state change, rendering) runs in one worker thread: the stores are
synchronous and must not block the event loop.

Every page checks the session and the subject's role and scope; every POST needs the session's
CSRF token (form field ``csrf`` or header ``X-CSRF-Token``); every change is audited (actions.py).
"""
from __future__ import annotations

import asyncio
import csv
import io
import logging
import mimetypes
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, Optional
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from sanic import Sanic, response
from sanic.request import Request

from bot.broadcasts import audience as audiences
from bot.broadcasts import compose, errors, lifecycle, models
from bot.callbacks import store as callbacks
from bot.config import broadcasts
from bot.config.directory import get_directory
from bot.config.report import ReportConfig
from bot.core.errors import UserError
from bot.core.settings import Settings, get_settings
from bot.core.text import duration
from bot.handlers.policy import handler_policy
from bot.privacy.masks import mask_phone, mask_room, mask_sender, mask_text
from bot.reports import writers
from bot.reports.period import Period, as_of_moment
from bot.staff import access
from bot.tickets.status import OPEN_VALUES
from bot.tickets.store import TicketStore
from bot.tickets.views import place
from bot.volunteers import points as rider_points
from bot.volunteers import records
from bot.workbench import actions, auth, misunderstood, places, queries
from bot.workbench import figures as figure_data
from bot.workbench.config import ConsoleConfig, get_config, public_url
from bot.workbench.models import init_tables
from bot.workflows.followups import followups

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
}


@dataclass
class Ctx:
    """One request, as a page's function sees it (in a worker thread)."""

    request: Request
    subject: Optional[auth.Subject]
    now: datetime
    ip: str

    @property
    def user(self) -> auth.Subject:
        """The signed-in subject of a page that is not public: run() refuses a request without one."""
        assert self.subject is not None, "only public pages run without a subject"
        return self.subject

    @property
    def args(self):
        return self.request.args

    @property
    def form(self):
        return self.request.form or {}


class Workbench:
    """What every page shares: settings, database, directory, wording, templates."""

    def __init__(self, settings: Settings, engine=None, config: Optional[ConsoleConfig] = None,
                 clock: Callable[[], datetime] | None = None) -> None:
        from bot.core.db import get_engine

        self.settings = settings
        self.engine = engine or get_engine(settings.database_url)
        self.config = config or get_config()
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.zone = ZoneInfo(settings.timezone)
        self.directory = get_directory()
        self.service = self.directory.service
        self.report_config = ReportConfig.load(settings.service_path, self.service)
        self.labels = {**self.config.labels, "statuses": dict(self.service.status_labels),
                       "events": dict(self.service.event_labels), "tiers": dict(self.service.tiers),
                       "categories": {code: c.label for code, c in self.service.categories.items()},
                       "handler_kinds": dict(self.report_config.handler_kinds),
                       "channels": dict(self.report_config.channels), "answers": dict(self.service.answer_labels),
                       "topics": dict(broadcasts.get_config().topics),
                       "reasons": dict(broadcasts.get_config().reasons),
                       "volunteer_statuses": dict(records.STATUS_LABELS)}
        self.templates = Environment(loader=FileSystemLoader(str(HERE / "templates")),
                                     autoescape=select_autoescape(["html", "svg"]), trim_blocks=True,
                                     lstrip_blocks=True)
        self.templates.globals.update(labels=self.labels, street=self.directory.street, config=self.config,
                                      urlencode=urlencode)
        self.templates.filters.update(local=self.local, left=self.left, place=place, actor=self.actor,
                                      masked_phone=mask_phone, masked_room=mask_room, mask_text=mask_text,
                                      percent=_percent)
        self._names: dict = {}

    def store(self) -> TicketStore:
        return TicketStore(engine=self.engine, directory=self.directory, clock=self.clock)

    # -- template helpers ------------------------------------------------------------------------

    def local(self, moment: Optional[datetime], form: str = "%Y-%m-%d %H:%M") -> str:
        return moment.astimezone(self.zone).strftime(form) if moment else ""

    @staticmethod
    def left(seconds: Optional[float]) -> str:
        return duration(timedelta(seconds=abs(seconds))) if seconds is not None else ""

    def actor(self, actor: str) -> tuple[str, str]:
        """(kind, shown name) of a history step's actor; residents only by a masked id."""
        if actor == "linli":
            return "system", ""
        kind, _, rest = actor.partition(":")
        if kind in ("staff", "handler"):
            channel, _, sender_id = rest.partition(":")
            if not self._names:
                from bot.config.staff import load_staff

                try:
                    self._names = {(m.channel, m.id): m.name for m in load_staff()}
                except Exception:  # noqa: BLE001 - a broken roster must not break the page
                    self._names = {}
            return kind, self._names.get((channel, sender_id)) or rest
        contact = auth.handler_contact(kind, rest)  # a handler's step from chat or here: "wecom:shouhua-desk"
        if contact is not None:
            return "handler", contact.label
        return "resident", mask_sender(rest or kind)

    def render(self, name: str, ctx: Ctx, status: int = 200, **values) -> response.HTTPResponse:
        html = self.templates.get_template(name).render(subject=ctx.subject, now=ctx.now, request_path=ctx.request.path,
                                                         **values)
        return response.html(html, status=status)

    def problem(self, ctx: Ctx, message: str, status: int) -> response.HTTPResponse:
        if ctx.request.path.endswith(".json"):
            return response.json({"error": message}, status=status)
        return self.render("message.html", ctx, status=status, message=message)


def _percent(rate) -> str:
    return "—" if rate is None or rate.value is None else f"{rate.value:.1%}"


def create_app(settings: Optional[Settings] = None, engine=None, name: str = "linli_console") -> Sanic:
    settings = settings or get_settings()
    wb = Workbench(settings, engine)
    init_tables(wb.engine)
    app = Sanic(name)
    app.config.REQUEST_MAX_SIZE = 8 * 1024 * 1024
    app.config.KEEP_ALIVE_TIMEOUT = 15
    app.ctx.workbench = wb
    app.static("/static", str(HERE / "static"), name="static")
    cookie = wb.config.cookie

    @app.after_server_start
    async def warm(app_, _loop) -> None:
        def defaults() -> list:
            today = wb.clock().astimezone(wb.zone).date()
            names = [c.name for c in wb.directory.communities]
            return [figure_data.choose({"community": name}, today, wb.config.custom_max_days, names, ())
                    for name in (None, *names)]
        figure_data.keep_warm(wb.engine, defaults, wb.zone, wb.clock, wb.report_config, _policy().response_hours,
                              wb.config.figures_cache_seconds)

    @app.on_response
    async def headers(request: Request, resp) -> None:
        for key, value in SECURITY_HEADERS.items():
            resp.headers.setdefault(key, value)
        if not request.path.startswith("/static/"):
            resp.headers.setdefault("Cache-Control", "no-store")

    def ip_of(request: Request) -> str:
        return str(request.remote_addr or request.ip or "")[:64]

    async def run(request: Request, page: Callable[[Ctx], response.HTTPResponse], change: bool = False,
                  public: bool = False):
        """Authenticates (unless ``public``), checks the CSRF token of a change, runs ``page``."""
        def work():
            ctx = Ctx(request, None, wb.clock(), ip_of(request))
            if not public:
                try:
                    ctx.subject = auth.current(wb.engine, request.cookies.get(cookie), ctx.now, wb.config)
                except auth.SignInError as refused:
                    if change:
                        auth.audit(wb.engine, None, "refused_no_session", ctx.now, outcome="refused",
                                   detail=f"{request.method} {request.path}"[:200], ip=ctx.ip)
                    return wb.problem(ctx, refused.user_message, 401)
                if change:
                    given = (request.form or {}).get("csrf") if request.form is not None else None
                    given = given or request.headers.get("x-csrf-token")
                    if not auth.csrf_ok(ctx.subject, given):
                        auth.audit(wb.engine, ctx.subject, "refused_csrf", ctx.now, outcome="refused",
                                   detail=f"{request.method} {request.path}"[:200], ip=ctx.ip)
                        return wb.problem(ctx, wb.config.messages["csrf"], 403)
                    queries.forget_counts()  # whatever this changes shows in the counts at once
            return page(ctx)

        return await asyncio.to_thread(work)

    # -- signing in and out --------------------------------------------------------------------

    @app.get("/")
    async def home(request: Request):
        return response.redirect("/tickets")

    @app.get("/healthz")
    async def healthz(request: Request):
        return response.json({"ok": True})

    @app.get("/login")
    async def login_page(request: Request):
        def page(ctx: Ctx):
            token = request.args.get("t") or ""
            state = auth.peek_link(wb.engine, token, ctx.now)
            if state != "valid":
                return wb.render("message.html", ctx, status=410 if state == "used_or_expired" else 404,
                                 message=wb.config.messages["link_refused" if state == "used_or_expired" else "link_unknown"])
            return wb.render("login.html", ctx, token=token)
        return await run(request, page, public=True)

    @app.post("/login")
    async def login(request: Request):
        def page(ctx: Ctx):
            token = ctx.form.get("t") or ""
            try:
                session_token, subject = auth.redeem(wb.engine, token, ctx.now, ctx.ip, wb.config)
            except auth.SignInError as refused:
                auth.audit(wb.engine, None, "sign_in", ctx.now, outcome="refused", detail=refused.user_message,
                           ip=ctx.ip)
                return wb.render("message.html", ctx, status=410, message=refused.user_message)
            auth.audit(wb.engine, subject, "sign_in", ctx.now, ip=ctx.ip)
            resp = response.redirect("/tickets", status=303)
            _set_cookie(resp, cookie, session_token, int(wb.config.session_hours * 3600),
                        secure=request.scheme == "https" or public_url().startswith("https"))
            return resp
        return await run(request, page, public=True)

    @app.post("/logout")
    async def logout(request: Request):
        def page(ctx: Ctx):
            auth.end(wb.engine, request.cookies.get(cookie), ctx.now)
            auth.audit(wb.engine, ctx.subject, "sign_out", ctx.now, ip=ctx.ip)
            resp = wb.render("message.html", ctx, message=wb.config.messages["session_ended"])
            ctx.subject = None
            _set_cookie(resp, cookie, "", 0, secure=request.scheme == "https")
            return resp
        return await run(request, page, change=True)

    # -- the queue ---------------------------------------------------------------------------------

    def queue_filter(ctx: Ctx) -> queries.QueueFilter:
        return queries.QueueFilter.from_args(ctx.args, wb.service, wb.labels["sources"])

    def facet_options(f: queries.QueueFilter, counts: dict) -> dict:
        label = {
            "status": lambda v: wb.labels["statuses"].get(v, v),
            "category": lambda v: wb.labels["categories"].get(v, v),
            "community": lambda v: v,
            "building": lambda v: f"{v.partition(':')[0]} {v.partition(':')[2]}号楼",
            "handler": lambda v: v,
            "tier": lambda v: wb.labels["tiers"].get(v, v),
            "source": lambda v: wb.labels["sources"].get(v, v),
            "overdue": lambda v: wb.labels["overdue"][str(v)],
        }
        options = {}
        for name in queries.FACETS:
            values = counts.get(name, [])
            if name == "overdue":
                values = [(1 if v else 0, n) for v, n in values]
            chosen = getattr(f, name)
            if name == "overdue" and chosen is not None:
                chosen = 1 if chosen else 0
            listed = [(str(v), label[name](v), n) for v, n in values]
            if chosen is not None and str(chosen) not in {v for v, _, _ in listed}:
                listed.append((str(chosen), label[name](chosen), 0))
            options[name] = {"chosen": None if chosen is None else str(chosen), "values": listed}
        return options

    @app.get("/tickets")
    async def ticket_queue(request: Request):
        def page(ctx: Ctx):
            f = queue_filter(ctx)
            found = queries.queue(wb.engine, ctx.subject, f, ctx.now, wb.zone, wb.config.page_size,
                                  wb.config.facet_values_max, reuse_seconds=wb.config.counts_reused_seconds)
            return wb.render("queue.html", ctx, queue=found, filter=f, options=facet_options(f, found.counts),
                             params=f.params(), csv_params=urlencode(f.params()),
                             page_link=lambda n: "/tickets?" + urlencode(f.params(page=n)))
        return await run(request, page)

    @app.get("/tickets.csv")
    async def ticket_csv(request: Request):
        def page(ctx: Ctx):
            f = queue_filter(ctx)
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow([wb.labels["csv"][c] for c in CSV_COLUMNS])
            rows = 0
            for row in queries.export_rows(wb.engine, ctx.subject, f, ctx.now, wb.zone, wb.config.csv_max_rows):
                writer.writerow(csv_row(row))
                rows += 1
            auth.audit(wb.engine, ctx.subject, "export_csv", ctx.now, ip=ctx.ip,
                       detail=f"{rows} rows; {urlencode(f.params())}"[:2000])
            name = f"tickets-{wb.local(ctx.now, '%Y%m%d-%H%M')}.csv"
            return response.raw(("\ufeff" + out.getvalue()).encode("utf-8"), content_type="text/csv; charset=utf-8",
                                headers={"Content-Disposition": f'attachment; filename="{name}"'})
        return await run(request, page)

    def csv_row(row: queries.QueueRow) -> list:
        state = (wb.labels["overdue"]["1"] if row.overdue else "") if row.seconds_left is not None else ""
        return [row.id, wb.local(row.created_at), wb.labels["categories"].get(row.category, row.category),
                row.community or "", row.building or "", row.unit or "", row.room or "", row.phone or "",
                wb.labels["sources"].get(row.source, row.source), row.handler_name or "",
                wb.labels["tiers"].get(row.tier, row.tier or ""), wb.labels["statuses"].get(row.status, row.status),
                wb.local(row.deadline), state, row.description]

    # -- one ticket ------------------------------------------------------------------------------

    def visible_ticket(ctx: Ctx, ticket_id: str):
        ticket = wb.store().get(ticket_id)
        if ticket is None:
            return None, wb.problem(ctx, wb.config.messages["not_found"], 404)
        if not ctx.user.sees(ticket.community, ticket.handler_name):
            auth.audit(wb.engine, ctx.subject, "refused_scope", ctx.now, ticket_id=ticket.id, outcome="refused",
                       detail=f"{ctx.request.method} {ctx.request.path}"[:200], ip=ctx.ip)
            return None, wb.problem(ctx, wb.config.messages["forbidden"], 403)
        return ticket, None

    def ticket_page(ctx: Ctx, ticket, status: int = 200, error: Optional[str] = None, done: Optional[str] = None):
        full = ctx.user.serves(ticket.community)  # staff of that community: phone, room and words in full
        if full and ticket.phone:
            auth.audit(wb.engine, ctx.subject, "ticket_view", ctx.now, ticket_id=ticket.id, ip=ctx.ip,
                       detail="full phone shown")
        photos = [(i, photo, _local_photo(photo, wb.settings) is not None) for i, photo in enumerate(ticket.photos)]
        points = places.building_points(ticket.community)
        sketch = places.sketch(ticket.latitude, ticket.longitude, points) \
            if ticket.latitude is not None and ticket.longitude is not None else None
        handlers = sorted({*wb.directory.property_companies, *(d.name for d in wb.directory.departments.values()),
                           *(c.name for c in wb.directory.communities),
                           *(b.owner_unit for c in wb.directory.communities for b in c.buildings.values()
                             if b.owner_unit)})
        pending = actions.pending_extension(wb.engine, ticket.id)
        return wb.render("ticket.html", ctx, status=status, ticket=ticket, full=full, photos=photos, sketch=sketch,
                         followups=followups(wb.engine, ticket.id), allowed=actions.allowed(ticket, wb.labels),
                         ticket_actions=actions.TICKET_ACTIONS, error=error, done=done, pending=pending,
                         work=actions.work_allowed(ticket, ctx.user, pending, wb.labels),
                         extension_max_days=handler_policy().extension_max_days,
                         report_photos=actions.history_photos(ticket), callbacks=ticket_callbacks(ctx, ticket),
                         attachments=queries.attachments(wb.engine, ticket.id), handlers=handlers,
                         merge_targets=queries.open_tickets_like(wb.engine, ctx.subject, ticket.id, ticket.community),
                         seconds_left=(ticket.deadline - ctx.now).total_seconds()
                         if ticket.deadline and ticket.status in OPEN_VALUES else None,
                         state=ticket_state(ticket))

    @app.get("/tickets/<ticket_id>")
    async def ticket_detail(request: Request, ticket_id: str):
        def page(ctx: Ctx):
            ticket, refused = visible_ticket(ctx, ticket_id)
            if refused:
                return refused
            done = ctx.args.get("done")
            return ticket_page(ctx, ticket, done=done if done in wb.labels["done"] else None)
        return await run(request, page)

    def ticket_state(ticket) -> str:
        rounds = followups(wb.engine, ticket.id)
        return "|".join([ticket.updated_at.isoformat(), str(len(ticket.history)), str(ticket.followers),
                         *[f"{r.round}:{r.status}:{r.solved}:{r.satisfaction}:{len(r.comment or '')}" for r in rounds]])

    @app.get("/tickets/<ticket_id>/state.json")
    async def ticket_state_json(request: Request, ticket_id: str):
        def page(ctx: Ctx):
            ticket, refused = visible_ticket(ctx, ticket_id)
            if refused:
                return refused
            return response.json({"state": ticket_state(ticket), "status": ticket.status})
        return await run(request, page)

    @app.post("/tickets/<ticket_id>/<action>")
    async def ticket_action(request: Request, ticket_id: str, action: str):
        def page(ctx: Ctx):
            ticket, refused = visible_ticket(ctx, ticket_id)
            if refused:
                return refused
            upload = request.files.get("photo") if request.files else None
            photo = (upload.body, upload.name) if upload is not None and upload.body else None
            if action in actions.WORK_ACTIONS:
                try:
                    actions.work_on_ticket(wb.store(), ctx.user, action, ticket.id, ctx.now, ctx.ip,
                                           {k: ctx.form.get(k) for k in ctx.form},
                                           wb.labels)
                except UserError as error:
                    return ticket_page(ctx, wb.store().get(ticket.id), status=409, error=error.user_message)
                return response.redirect(f"/tickets/{ticket.id}?done={action}", status=303)
            try:
                acted = actions.act_on_ticket(wb.store(), ctx.user, action, ticket.id, ctx.now, ctx.ip,
                                              text=ctx.form.get("text"), handler_kind=None, photo=photo)
            except UserError as error:
                return ticket_page(ctx, wb.store().get(ticket.id), status=409, error=error.user_message)
            shown = acted.ticket.id if action == "merge" else ticket.id
            return response.redirect(f"/tickets/{shown}?done={action}", status=303)
        return await run(request, page, change=True)

    async def ticket_file(request: Request, ticket_id: str, locate):
        """A file of a ticket the subject may see: ``locate(ticket)`` gives its path, or None (404)."""
        def page(ctx: Ctx):
            ticket, refused = visible_ticket(ctx, ticket_id)
            if refused:
                return refused
            path = locate(ticket)
            return _file(path) if path else wb.problem(ctx, wb.config.messages["not_found"], 404)
        return await run(request, page)

    @app.get("/tickets/<ticket_id>/photos/<index:int>")
    async def ticket_photo(request: Request, ticket_id: str, index: int):
        return await ticket_file(request, ticket_id, lambda ticket: _local_photo(ticket.photos[index], wb.settings)
                                 if 0 <= index < len(ticket.photos) else None)

    @app.get("/tickets/<ticket_id>/report-photos/<name>")
    async def ticket_report_photo(request: Request, ticket_id: str, name: str):
        return await ticket_file(request, ticket_id, lambda ticket: actions.photo_path(ticket, name))

    def ticket_callbacks(ctx: Ctx, ticket) -> list:
        """The open call-backs about this ticket, for staff who may mark them done."""
        if ctx.user.role != "staff":
            return []
        listed = callbacks.list_callbacks(wb.store(), "open", (ticket.community,) if ticket.community else (), 500)
        return [c for c in listed if c.ticket_id == ticket.id and actions.callback_visible(ctx.user, c)]

    # -- call-backs (转人工) --------------------------------------------------------------------------

    def callback_page(ctx: Ctx, status: int = 200, error: Optional[str] = None, done: Optional[str] = None):
        """The open call-backs of the communities the staff member serves, soonest promise first; the
        phone in full only where access allows (masked otherwise), and who saw it on record."""
        if ctx.user.role != "staff":
            return wb.problem(ctx, wb.config.messages["forbidden"], 403)
        store = wb.store()
        listed = [c for c in callbacks.list_callbacks(store, "open", ctx.user.scope, 200)
                  if actions.callback_visible(ctx.user, c)]
        shown = [(c, bool(c.phone) and access.callback_phone_visible(store, c, ctx.user.channel,
                                                                      ctx.user.sender_id)) for c in listed]
        full = [str(c.id) for c, visible in shown if visible]
        if full:
            auth.audit(wb.engine, ctx.subject, "callbacks_view", ctx.now, ip=ctx.ip,
                       detail=f"full phone shown: #{', #'.join(full)}"[:2000])
        return wb.render("callbacks.html", ctx, status=status, shown=shown, error=error, done=done,
                         overdue=sum(1 for c in listed if c.is_overdue(ctx.now)))

    @app.get("/callbacks")
    async def callback_list(request: Request):
        def page(ctx: Ctx):
            done = ctx.args.get("done") or ""
            return callback_page(ctx, done=done if done.isdigit() else None)
        return await run(request, page)

    @app.post("/callbacks/<callback_id:int>/done")
    async def callback_done(request: Request, callback_id: int):
        def page(ctx: Ctx):
            if ctx.user.role != "staff":
                return wb.problem(ctx, wb.config.messages["forbidden"], 403)
            found = callbacks.get(wb.store(), callback_id)
            if found is None:
                return wb.problem(ctx, wb.config.messages["not_found"], 404)
            if not actions.callback_visible(ctx.user, found):
                auth.audit(wb.engine, ctx.subject, "refused_scope", ctx.now, target=str(found.id),
                           ticket_id=found.ticket_id, outcome="refused",
                           detail=f"{ctx.request.method} {ctx.request.path}"[:200], ip=ctx.ip)
                return wb.problem(ctx, wb.config.messages["forbidden_callback"], 403)
            try:
                actions.callback_done(wb.store(), ctx.user, found.id, ctx.form.get("note"), ctx.now, ctx.ip)
            except UserError as error:
                return callback_page(ctx, status=409, error=error.user_message)
            if found.ticket_id and ctx.form.get("back") == f"/tickets/{found.ticket_id}":  # from its ticket page
                return response.redirect(f"/tickets/{found.ticket_id}?done=callback", status=303)
            return response.redirect(f"/callbacks?done={found.id}", status=303)
        return await run(request, page, change=True)

    @app.get("/attachments/<attachment_id:int>")
    async def attachment(request: Request, attachment_id: int):
        def page(ctx: Ctx):
            from bot.core.db import session_scope
            from bot.workbench.models import TicketAttachment

            with session_scope(wb.engine) as session:
                row = session.get(TicketAttachment, attachment_id)
                ticket_id, stored = (row.ticket_id, row.path) if row else (None, None)
            if ticket_id is None:
                return wb.problem(ctx, wb.config.messages["not_found"], 404)
            ticket, refused = visible_ticket(ctx, ticket_id)
            if refused:
                return refused
            path = _local_photo(stored, wb.settings)
            return _file(path) if path else wb.problem(ctx, wb.config.messages["not_found"], 404)
        return await run(request, page)

    # -- broadcasts --------------------------------------------------------------------------------

    def compose_values(ctx: Ctx) -> dict:
        form = ctx.form
        return {"text": form.get("text") or "", "kind": form.get("kind") or models.SUBSCRIBERS,
                "community": form.get("community") or "", "building": form.get("building") or "",
                "topic": form.get("topic") or "", "send_at": form.get("send_at") or ""}

    def draft_of(ctx: Ctx, values: dict) -> compose.Draft:
        send_at = None
        if values["send_at"]:
            try:
                send_at = datetime.fromisoformat(values["send_at"]).replace(tzinfo=wb.zone).astimezone(timezone.utc)
            except ValueError:
                raise errors.BroadcastError("定时请写成 2026-11-25 08:00 这样。") from None
        audience = compose.Audience(values["kind"], values["community"] or None, values["building"] or None,
                                       values["topic"] or None)
        return compose.Draft(text=values["text"], audience=audience, send_at=send_at, author_channel="console",
                                author_id=ctx.user.actor)

    def broadcast_list(ctx: Ctx, status: int = 200, error: Optional[str] = None, values: Optional[dict] = None):
        if ctx.user.role != "staff":  # notices are the community's and the street's, not a handler's
            return wb.problem(ctx, wb.config.messages["forbidden"], 403)
        listed = [v for v in lifecycle.listing(wb.engine, 50) if actions.broadcast_visible(ctx.user, v)]
        communities = [c.name for c in wb.directory.communities if ctx.user.serves(c.name)]
        return wb.render("broadcasts.html", ctx, status=status, listed=listed, error=error,
                         values=values or {"kind": models.SUBSCRIBERS,
                                           "community": communities[0] if ctx.user.scope else ""},
                         communities=communities, bconfig=broadcasts.get_config())

    @app.get("/broadcasts")
    async def broadcast_page(request: Request):
        return await run(request, lambda ctx: broadcast_list(ctx))

    @app.post("/broadcasts/preview")
    async def broadcast_preview(request: Request):
        def page(ctx: Ctx):
            if ctx.user.role != "staff":
                return wb.problem(ctx, wb.config.messages["forbidden"], 403)
            values = compose_values(ctx)
            try:
                draft = draft_of(ctx, values)
                preview = actions.broadcast_preview(wb.engine, ctx.user, draft, wb.directory, ctx.now)
            except UserError as error:
                return broadcast_list(ctx, status=409, error=error.user_message, values=values)
            policy = _policy()
            moment = draft.send_at or ctx.now
            quiet = policy.is_quiet(moment)
            warning = wb.config.messages["quiet_hours"].format(start=policy.quiet_start.strftime("%H:%M"),
                                                               end=policy.quiet_end.strftime("%H:%M")) if quiet else None
            return wb.render("broadcast_preview.html", ctx, values=values, preview=preview, warning=warning,
                             lines=audiences.describe_preview(preview, wb.settings.timezone),
                             bconfig=broadcasts.get_config())
        return await run(request, page, change=True)

    @app.post("/broadcasts/send")
    async def broadcast_send(request: Request):
        def page(ctx: Ctx):
            if ctx.user.role != "staff":
                return wb.problem(ctx, wb.config.messages["forbidden"], 403)
            values = compose_values(ctx)
            try:
                view = actions.broadcast_send(wb.engine, ctx.user, draft_of(ctx, values), wb.directory, ctx.now,
                                              ctx.ip)
            except UserError as error:
                return broadcast_list(ctx, status=409, error=error.user_message, values=values)
            return response.redirect(f"/broadcasts/{view.id}", status=303)
        return await run(request, page, change=True)

    def visible_broadcast(ctx: Ctx, broadcast_id: int):
        view = lifecycle.get(wb.engine, broadcast_id)
        if view is None:
            return None, wb.problem(ctx, wb.config.messages["not_found"], 404)
        if not actions.broadcast_visible(ctx.user, view):
            auth.audit(wb.engine, ctx.subject, "refused_scope", ctx.now, target=str(view.id), outcome="refused",
                       detail=f"{ctx.request.method} {ctx.request.path}"[:200], ip=ctx.ip)
            return None, wb.problem(ctx, wb.config.messages["forbidden"], 403)
        return view, None

    def progress(view) -> dict:
        counts = dict(view.counts)
        total = sum(counts.values())
        finished = sum(n for s, n in counts.items() if s not in ("pending", "sending"))
        return {"id": view.id, "status": view.status,
                "status_label": wb.labels["broadcast_statuses"].get(view.status, view.status),
                "counts": counts, "total": total, "finished": finished,
                "lines": audiences.describe_outcome(lifecycle.report(wb.engine, view.id)) if total else [],
                "running": view.status in ("scheduled", "sending")}

    @app.get("/broadcasts/<broadcast_id:int>")
    async def broadcast_detail(request: Request, broadcast_id: int):
        def page(ctx: Ctx):
            view, refused = visible_broadcast(ctx, broadcast_id)
            if refused:
                return refused
            return wb.render("broadcast.html", ctx, view=view, progress=progress(view),
                             failures=lifecycle.failures(wb.engine, view.id), bconfig=broadcasts.get_config())
        return await run(request, page)

    @app.get("/broadcasts/<broadcast_id:int>/progress.json")
    async def broadcast_progress(request: Request, broadcast_id: int):
        def page(ctx: Ctx):
            view, refused = visible_broadcast(ctx, broadcast_id)
            return refused or response.json(progress(view))
        return await run(request, page)

    @app.post("/broadcasts/<broadcast_id:int>/cancel")
    async def broadcast_cancel(request: Request, broadcast_id: int):
        def page(ctx: Ctx):
            view, refused = visible_broadcast(ctx, broadcast_id)
            if refused:
                return refused
            try:
                actions.broadcast_cancel(wb.engine, ctx.user, view.id, ctx.now, ctx.ip)
            except UserError as error:
                return wb.render("broadcast.html", ctx, status=409, view=view, progress=progress(view),
                                 failures=lifecycle.failures(wb.engine, view.id), error=error.user_message,
                                 bconfig=broadcasts.get_config())
            return response.redirect(f"/broadcasts/{view.id}", status=303)
        return await run(request, page, change=True)

    # -- figures -----------------------------------------------------------------------------------

    @app.get("/figures")
    async def figures_page(request: Request):
        def page(ctx: Ctx):
            today = ctx.now.astimezone(wb.zone).date()
            communities = [c.name for c in wb.directory.communities if ctx.user.serves(c.name)]
            if ctx.user.role != "staff":
                return wb.problem(ctx, wb.config.messages["forbidden"], 403)
            problem: Optional[str]
            try:
                choice = figure_data.choose(ctx.args, today, wb.config.custom_max_days, communities, ctx.user.scope)
            except figure_data.PeriodError as error:
                choice = figure_data.choose({}, today, wb.config.custom_max_days, communities, ctx.user.scope)
                problem = str(error)
            else:
                problem = None
            found = figure_data.figures(wb.engine, choice, wb.zone, ctx.now, wb.report_config,
                                        _policy().response_hours, wb.config.figures_cache_seconds)
            return wb.render("figures.html", ctx, f=found, choice=choice, communities=communities, problem=problem,
                             rc=wb.report_config, daily=figure_data.daily(found, wb.report_config),
                             heat=figure_data.heatmap(found, wb.report_config),
                             ageing=figure_data.ageing(found, wb.report_config),
                             around=figure_data.neighbours(choice, today), overdue_for=figure_data.overdue_for,
                             previous=found.period.previous())
        return await run(request, page)

    # -- report files (what `linli report` writes; the Monday digest links to last week's) ----------

    def report_files(ctx: Ctx, kind: str, first: str):
        """The folder of a whole past week or month for the subject's scope (the whole street, or
        the community they serve), written the first time someone asks; (folder, period) or a page."""
        if ctx.user.role != "staff":
            return None, wb.problem(ctx, wb.config.messages["forbidden"], 403)
        try:
            period = _whole_period(kind, date.fromisoformat(first))
        except ValueError:
            return None, wb.problem(ctx, wb.config.messages["not_found"], 404)
        today = ctx.now.astimezone(wb.zone).date()
        if period.last >= today:
            return None, wb.problem(ctx, wb.config.messages["report_not_over"], 404)
        community = ctx.args.get("community") or (None if ctx.user.whole_street else ctx.user.scope[0])
        if not ctx.user.serves(community):
            return None, wb.problem(ctx, wb.config.messages["forbidden"], 403)
        folder = writers.default_folder(wb.settings.var_dir, wb.report_config, period, community)
        if not (folder / "summary.md").exists():
            writers.make(wb.engine, period, wb.zone, as_of_moment(today, wb.zone, ctx.now), wb.report_config,
                         _policy().response_hours, folder, wb.directory.street, community)
        return (folder, period, community), None

    @app.get("/reports/<kind:week|month>/<first>")
    async def report_page(request: Request, kind: str, first: str):
        def page(ctx: Ctx):
            found, refused = report_files(ctx, kind, first)
            if refused:
                return refused
            folder, period, community = found
            auth.audit(wb.engine, ctx.subject, "report_open", ctx.now, target=folder.name, ip=ctx.ip)
            return wb.render("reports.html", ctx, period=period, community=community, kind=kind,
                             files=sorted(p.name for p in folder.iterdir() if p.is_file()),
                             query=urlencode({"community": community}) if community else "")
        return await run(request, page)

    @app.get("/reports/<kind:week|month>/<first>/<name>")
    async def report_file(request: Request, kind: str, first: str, name: str):
        def page(ctx: Ctx):
            found, refused = report_files(ctx, kind, first)
            if refused:
                return refused
            path = found[0] / name
            if "/" in name or name.startswith(".") or not path.is_file():
                return wb.problem(ctx, wb.config.messages["not_found"], 404)
            return _file(path)
        return await run(request, page)

    # -- volunteers ----------------------------------------------------------------------------------

    def volunteer_page(ctx: Ctx, status: int = 200, error: Optional[str] = None, done: Optional[str] = None):
        if ctx.user.role != "staff":
            return wb.problem(ctx, wb.config.messages["forbidden"], 403)
        shown = ctx.args.get("status") if ctx.args.get("status") in records.STATUS_LABELS else None
        riders = records.list_volunteers(wb.engine)
        policy = _policy()
        try:
            first = rider_points.parse_month(ctx.args.get("month"), policy.zone, ctx.now)
        except UserError:
            first = rider_points.parse_month(None, policy.zone, ctx.now)
        counts = {s: sum(1 for r in riders if r.status == s) for s in records.STATUS_LABELS}
        return wb.render("volunteers.html", ctx, status=status, riders=[r for r in riders if not shown or r.status == shown],
                         counts=counts, shown=shown, points=rider_points.points(wb.engine, policy.zone, first),
                         month=first, error=error, done=done)

    @app.get("/volunteers")
    async def volunteer_list(request: Request):
        return await run(request, lambda ctx: volunteer_page(ctx, done=ctx.args.get("done")))

    @app.post("/volunteers/<action>")
    async def volunteer_action(request: Request, action: str):
        def page(ctx: Ctx):
            try:
                rider = actions.volunteer_change(wb.engine, ctx.user, action, ctx.form.get("who") or "", ctx.now,
                                                 ctx.ip)
            except UserError as error:
                return volunteer_page(ctx, status=409, error=error.user_message)
            return response.redirect("/volunteers?" + urlencode({"done": f"{action}:{rider.name}"}), status=303)
        return await run(request, page, change=True)

    # -- misunderstood messages -------------------------------------------------------------------

    def misunderstood_page(ctx: Ctx, status: int = 200, error: Optional[str] = None):
        if ctx.user.role != "staff":
            return wb.problem(ctx, wb.config.messages["forbidden"], 403)
        shown = ctx.args.get("status") if ctx.args.get("status") in wb.labels["misunderstood_statuses"] else "new"
        return wb.render("misunderstood.html", ctx, status=status, shown=shown,
                         messages=misunderstood.listing(wb.engine, shown), counts=misunderstood.counts(wb.engine),
                         intents=misunderstood.domain_intents(), topics=misunderstood.faq_topics(), error=error)

    @app.get("/misunderstood")
    async def misunderstood_list(request: Request):
        return await run(request, lambda ctx: misunderstood_page(ctx))

    @app.post("/misunderstood/<message_id:int>/label")
    async def misunderstood_label(request: Request, message_id: int):
        def page(ctx: Ctx):
            if ctx.user.role != "staff":
                return wb.problem(ctx, wb.config.messages["forbidden"], 403)
            try:
                misunderstood.label(wb.engine, message_id, ctx.form.get("intent") or "", ctx.form.get("category"),
                                    ctx.user.actor, ctx.now, wb.service.categories, misunderstood.domain_intents(),
                                    misunderstood.faq_topics())
            except UserError as error:
                auth.audit(wb.engine, ctx.subject, "misunderstood_label", ctx.now, target=str(message_id),
                           outcome="refused", detail=error.user_message, ip=ctx.ip)
                return misunderstood_page(ctx, status=409, error=error.user_message)
            auth.audit(wb.engine, ctx.subject, "misunderstood_label", ctx.now, target=str(message_id), ip=ctx.ip,
                       detail=ctx.form.get("intent"))
            return response.redirect("/misunderstood", status=303)
        return await run(request, page, change=True)

    # -- the audit log -----------------------------------------------------------------------------

    @app.get("/audit")
    async def audit_page(request: Request):
        def page(ctx: Ctx):
            if not ctx.user.whole_street:  # who did what, everywhere: the street's staff only
                return wb.problem(ctx, wb.config.messages["forbidden"], 403)
            ticket_id = (ctx.args.get("ticket") or "").strip().upper()[:16] or None
            return wb.render("audit.html", ctx, entries=auth.audit_entries(wb.engine, 200, ticket_id), ticket=ticket_id)
        return await run(request, page)

    @app.exception(Exception)
    async def failed(request: Request, error: Exception):
        from sanic.exceptions import SanicException

        status = error.status_code if isinstance(error, SanicException) else 500
        if status == 500:
            log.exception("workbench page failed: %s %s", request.method, request.path)
        message = wb.config.messages["not_found"] if status == 404 else "出错了，请稍后再试。"
        return response.html(wb.templates.get_template("message.html").render(subject=None, now=wb.clock(),
                                                                              request_path=request.path,
                                                                              message=message), status=status)

    return app


CSV_COLUMNS = ("id", "created_at", "category", "community", "building", "unit", "room", "phone", "source", "handler",
               "tier", "status", "deadline", "overdue", "description")


def _policy():
    from bot.config.policy import get_policy

    return get_policy()


def _set_cookie(resp, name: str, value: str, max_age: int, secure: bool) -> None:
    resp.cookies[name] = value
    cookie = resp.cookies[name]
    cookie["httponly"] = True
    cookie["samesite"] = "Lax"
    cookie["path"] = "/"
    cookie["max-age"] = max_age
    if secure:
        cookie["secure"] = True


def _local_photo(photo: Optional[str], settings: Settings) -> Optional[Path]:
    """A photo reference that is a file under the var folder (never anywhere else: ids from the
    platforms, and paths outside, are shown as text)."""
    if not photo or "\x00" in photo:
        return None
    try:
        path = Path(photo).resolve()
        root = Path(settings.var_dir).resolve()
    except (OSError, ValueError):
        return None
    if root not in path.parents or not path.is_file() or path.suffix.lower() not in (".jpg", ".jpeg", ".png"):
        return None
    return path


def _whole_period(kind: str, first: date) -> Period:
    """The week (from a Monday) or month (from the 1st) that starts on ``first``; ValueError otherwise."""
    last = first + timedelta(days=6) if kind == "week" else \
        (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    period = Period.ending_by(kind, last)
    if period.first != first:
        raise ValueError(f"{first} does not start a {kind}")
    return period


def _file(path: Path) -> response.HTTPResponse:
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return response.raw(path.read_bytes(), content_type=kind, headers={"Cache-Control": "private, max-age=3600"})
