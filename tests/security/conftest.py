"""A stack started the way `linli run` starts it, with production settings, for the attack suite.

`python -m bot.cli.main run` with the Rasa port on every interface, LINLI_API_TOKEN and
LINLI_REST_TOKEN set, Redis tracker/lock/job stores (database 13, this suite's alone: emptied before
and after) and the three platforms pointed at their stand-ins. Everything the processes print goes
to one log, which the suite scans for phone numbers at the end.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import redis
import yaml
from sqlalchemy import create_engine

from bot.cli.channels import TELEGRAM_CLASS, WECHAT_CLASS
from bot.core.settings import PROJECT_ROOT
from bot.runtime import processes
from bot.tickets.store import TicketStore
from tests.stack import free_port
from tests.standins.server import LoopThread
from tests.standins.telegram import TelegramStandIn
from tests.standins.wechat import WeChatStandIn
from tests.standins.wecom import WeComStandIn

WECOM_CLASS = "bot.channels.wecom.WeComInput"
REDIS_URL = "redis://127.0.0.1:6379/13"
API_TOKEN = "edge-api-token-0123456789abcdef"
REST_TOKEN = "edge-rest-token-0123456789abcdef"
TELEGRAM_SECRET = "edge-telegram-secret"
# A mainland mobile number standing alone: not eleven digits inside a hex digest or a nonce
# ("045f17993455590bb2…"), which random data produces now and then.
FULL_PHONE = re.compile(r"(?<![0-9A-Za-z])1[3-9]\d{9}(?![0-9A-Za-z])")


@dataclass
class Production:
    linli: subprocess.Popen
    env: dict
    log: Path
    url: str
    tickets: TicketStore
    loop: LoopThread
    telegram: TelegramStandIn
    wechat: WeChatStandIn
    wecom: WeComStandIn
    children: list[int] = field(default_factory=list)

    def rest(self, body=None, *, token: str | None = REST_TOKEN, content: bytes | None = None,
             params: dict | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if content is None:
            return httpx.post(f"{self.url}/webhooks/rest/webhook", json=body, headers=headers, params=params,
                              timeout=60)
        return httpx.post(f"{self.url}/webhooks/rest/webhook", content=content, headers=headers, params=params,
                          timeout=60)

    def rest_text(self, sender: str, message: str, **extra) -> str:
        answer = self.rest({"sender": sender, "message": message, **extra})
        assert answer.status_code == 200, answer.text
        return "\n".join(m.get("text", "") for m in answer.json())

    def alive(self) -> list[int]:
        """Pids of the processes `linli run` started that have died since start-up."""
        return [pid for pid in self.children if not Path(f"/proc/{pid}").exists()
                or Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"]


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def _wait_for_model(url: str, linli: subprocess.Popen, log: Path, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if linli.poll() is not None:
            raise RuntimeError("linli run exited during start-up:\n" + log.read_text(errors="replace")[-4000:])
        try:
            if httpx.get(f"{url}/status", params={"token": API_TOKEN}, timeout=2).json().get("model_file"):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    raise TimeoutError("Rasa did not load the model in time:\n" + log.read_text(errors="replace")[-4000:])


@pytest.fixture(scope="module")
def production(tmp_path_factory):
    try:
        client = redis.Redis.from_url(REDIS_URL)
        client.flushdb()  # database 13 belongs to this suite alone
    except redis.RedisError as error:
        pytest.fail(f"Redis at {REDIS_URL} is needed for the attack suite and is not reachable: {error}")
    tmp = tmp_path_factory.mktemp("security")
    loop = LoopThread()
    telegram = loop.run(TelegramStandIn().start())
    wechat = loop.run(WeChatStandIn().start())
    wecom = loop.run(WeComStandIn().start())
    credentials = tmp / "credentials.yml"
    credentials.write_text(yaml.safe_dump({
        TELEGRAM_CLASS: {"token": telegram.token, "secret_token": TELEGRAM_SECRET, "base_url": telegram.base_url},
        WECHAT_CLASS: wechat.credentials(encoding_aes_key=wechat.encoding_aes_key),
        WECOM_CLASS: wecom.credentials(),
    }, allow_unicode=True))
    rasa_port = free_port()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("LINLI_")},
           "PYTHONPATH": str(PROJECT_ROOT),
           "LINLI_VAR_DIR": str(tmp), "LINLI_DATABASE_URL": f"sqlite:///{tmp / 'linli.db'}",
           "LINLI_MODEL_DIR": str(PROJECT_ROOT / "models"),
           "LINLI_RASA_PORT": str(rasa_port), "LINLI_ACTION_PORT": str(free_port()),
           "LINLI_CONSOLE_PORT": str(free_port()), "LINLI_RASA_HOST": "0.0.0.0",
           "LINLI_API_TOKEN": API_TOKEN, "LINLI_REST": "on", "LINLI_REST_TOKEN": REST_TOKEN,
           "LINLI_REDIS_URL": REDIS_URL, "LINLI_SCHEDULER_KEY_PREFIX": "linliedge",
           "LINLI_CREDENTIALS": str(credentials)}
    log = tmp / "linli.log"
    with open(log, "wb") as out:
        linli = subprocess.Popen([sys.executable, "-m", "bot.cli.main", "run"], cwd=PROJECT_ROOT, env=env,
                                 stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{rasa_port}"
    engine = None
    try:
        _wait_for_model(url, linli, log)
        telegram.webhook = {"url": f"{url}/webhooks/linli_telegram/webhook", "secret_token": TELEGRAM_SECRET}
        wechat.callback_url = f"{url}/webhooks/wechat/webhook"
        wecom.callback_url = f"{url}/webhooks/wecom/webhook"
        engine = create_engine(env["LINLI_DATABASE_URL"], future=True)
        yield Production(linli, env, log, url, TicketStore(engine=engine), loop, telegram, wechat, wecom,
                         children=_children(linli.pid))
    finally:
        linli.send_signal(signal.SIGTERM)
        try:
            linli.wait(30)
        except subprocess.TimeoutExpired:
            linli.kill()
        if engine is not None:
            engine.dispose()
        for standin in (telegram, wechat, wecom):
            loop.run(standin.stop())
        loop.close()
        redis.Redis.from_url(REDIS_URL).flushdb()


__all__ = ["Production", "API_TOKEN", "REST_TOKEN", "TELEGRAM_SECRET", "FULL_PHONE", "REDIS_URL", "processes"]
