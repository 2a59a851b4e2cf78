"""The workbench under test: a real ``python -m bot.workbench.server`` process on a free port, on a
database the test can also reach, signed in with one-time links; Debian's Chromium through
Playwright for the browser tests (screenshots go to results/workbench/)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from bot.core import db
from bot.core.settings import PACKAGE_DATA, PROJECT_ROOT
from bot.people import roster
from bot.workbench import auth
from bot.workbench.models import init_tables
from tests.stack import free_port

SHOTS = PROJECT_ROOT / "results" / "workbench"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
STREET = ("wecom", "wangyuan-street-duty")  # 望园街道值班: the whole street
WANGYUAN = ("wecom", "wangyuan-office")  # 望园社区办公室
XIYUAN = ("wecom", "wanliuxiyuan-office")  # 万柳西园社区办公室
SHOUHUA = ("wecom", "shouhua-desk")  # 首华物业（客服值班）: a handler's contact (handlers.yml)


@dataclass
class Console:
    url: str
    env: dict
    engine: object
    staff_file: Path
    process: subprocess.Popen
    log: Path
    extra: dict = field(default_factory=dict)

    def link(self, who: tuple[str, str] = STREET, now: datetime | None = None, role: str = "staff") -> str:
        """A fresh one-time token for a staff member, or a handler's contact (what `linli console
        link` and /登录 give, without the URL)."""
        return auth.create_link(self.engine, role, *who, now or datetime.now(timezone.utc))

    def client(self, who: tuple[str, str] | None = STREET, role: str = "staff") -> httpx.Client:
        """An HTTP client, signed in as ``who`` (None: not signed in)."""
        client = httpx.Client(base_url=self.url, follow_redirects=False, timeout=30)
        if who is not None:
            response = client.post("/login", data={"t": self.link(who, role=role)})
            assert response.status_code == 303, response.text
        return client

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()


def start_console(tmp: Path, env: dict | None = None, **overrides: str) -> Console:
    """The workbench on ``tmp``'s SQLite database (or ``env``'s), with a copy of the staff roster."""
    tmp.mkdir(parents=True, exist_ok=True)
    staff_file = tmp / "staff.yml"
    shutil.copy(PACKAGE_DATA / "staff.yml", staff_file)
    port = free_port()
    environment = {**os.environ, "LINLI_VAR_DIR": str(tmp), "LINLI_DATABASE_URL": f"sqlite:///{tmp / 'linli.db'}",
                   **(env or {}), "LINLI_CONSOLE_PORT": str(port), "LINLI_CONSOLE_HOST": "127.0.0.1",
                   "LINLI_STAFF_FILE": str(staff_file), **{f"LINLI_{k.upper()}": v for k, v in overrides.items()}}
    environment.pop("LINLI_CONSOLE_URL", None)
    engine = db.get_engine(environment["LINLI_DATABASE_URL"])
    init_tables(engine)
    roster.sync_staff(engine, staff_file)
    log = tmp / f"console-{port}.log"
    process = subprocess.Popen([sys.executable, "-m", "bot.workbench.server"], cwd=PROJECT_ROOT, env=environment,
                               stdout=log.open("wb"), stderr=subprocess.STDOUT)
    console = Console(f"http://127.0.0.1:{port}", environment, engine, staff_file, process, log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the workbench exited:\n" + log.read_text(errors="replace")[-3000:])
        try:
            if httpx.get(f"{console.url}/healthz", timeout=1).status_code == 200:
                return console
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    console.stop()
    raise RuntimeError("the workbench did not start:\n" + log.read_text(errors="replace")[-3000:])


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"the browser tests need Debian's Chromium at {CHROMIUM} (./dev test installs it)", pytrace=False)
    with sync_playwright() as playwright:
        running = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield running
        running.close()


def shot(page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(browser, console: Console, who: tuple[str, str] = STREET, viewport=(1366, 768), role: str = "staff"):
    """A browser page signed in the way staff (or a handler's contact) do: open the link, press the button."""
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]}, locale="zh-CN",
                                  timezone_id="Asia/Shanghai")
    page = context.new_page()
    page.goto(f"{console.url}/login?t={console.link(who, role=role)}")
    page.click("#enter")
    page.wait_for_url(f"{console.url}/tickets")
    return page


def ask_followup(engine, rasa_url: str, ticket_id: str, round_: int) -> None:
    """What the follow-up job does when it is due, run here at once (a scheduler opened, not started)."""
    from bot.workflows import followups

    run_job(engine, rasa_url, lambda context: followups.ask(context, ticket_id, round_))


def run_job(engine, rasa_url: str, job) -> None:
    """A scheduler job (``job(context)``) run here at once, delivering to ``rasa_url`` as the
    scheduler process would (a scheduler opened, not started)."""
    from bot.config.policy import get_policy
    from bot.core.clock import ManualClock
    from bot.messaging.delivery import Delivery
    from bot.scheduling.scheduler import Context, Scheduler
    from bot.tickets.store import TicketStore
    from tests.scheduling import settings_for

    clock = ManualClock(datetime.now(timezone.utc))
    settings = settings_for(str(engine.url), rasa_url)
    scheduler = Scheduler(settings, clock=clock, policy=get_policy(), engine=engine).open()
    try:
        delivery = Delivery(rasa_url, None, engine, clock, collecting=settings.collecting_channels)
        context = Context(scheduler, TicketStore(engine=engine, clock=clock), delivery,
                          get_policy(), scheduler.recipients, clock)
        job(context)
    finally:
        scheduler.stop(release=False)


@pytest.fixture(scope="module")
def rasa():
    """A stand-in Rasa recording what the workbench's pages trigger (broadcasts, call-back notices)."""
    from tests.scheduling import FakeRasa

    fake = FakeRasa().start()
    yield fake
    fake.stop()
