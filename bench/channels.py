"""Messaging channels under load, against the platforms' local stand-ins (tests/standins/).

Part ``webhooks``: a real Linli stack (tests/stack.py: action server and Rasa server, Redis tracker
and lock stores, ``--workers`` Rasa processes) whose credentials point the three channels at the
stand-ins. N simulated users each run the REST benchmark's conversation (bench/turns.py, script
``linli``) again and again as new users, waiting for each answer before the next message. The
REST channel on the same stack, in the same run, is the baseline. Besides rates and latencies,
the CPU time the Rasa processes and the action server used per message is recorded (/proc):
on a shared machine it moves much less than latency does.

- Telegram: the update is POSTed to ``/webhooks/linli_telegram/webhook`` with the secret token;
  latency runs until the stand-in has received the turn's last ``sendMessage``. Telegram's flood
  limits are lifted on both sides here (they cap a real bot at 30 replies/s; part ``broadcast``
  measures them);
- WeChat Official Account: the stand-in pushes the message as WeChat does (safe mode: signed,
  AES-encrypted XML, 5-second timeout, retries) and checks and decrypts the passive reply; a turn
  that misses the channel's 4-second budget is answered through the customer-service API, and its
  latency runs until that message reached the stand-in;
- WeChat Work app: the same through the WeChat Work stand-in (always encrypted), falling back to
  the app message API.

Part ``broadcast``: one notice to ``--recipients`` Telegram users through the channel's output
channel (python-telegram-bot's client and Linli's limiter, windows in Redis, split over
``--senders`` channel instances as several processes would be) to the stand-in enforcing
Telegram's limits (30 messages/s per bot, 1/s per chat; beyond them: 429).

    python bench/channels.py webhooks --users 10 50 --seconds 20
    python bench/channels.py broadcast --recipients 5000

The stack needs a current model (``linli train``, or ``LINLI_MODEL_DIR``). Results are printed and
appended as JSON lines to bench/results/channels.jsonl; Redis keys of the run are removed at the end.
"""
from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import aiohttp
import redis
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.turns import SCRIPTS, percentile  # noqa: E402
from bot.channels.telegram import SECRET_HEADER, SORRY, TelegramInput  # noqa: E402
from tests.stack import Stack, start_stack  # noqa: E402
from tests.standins.telegram import TelegramLimits, TelegramStandIn  # noqa: E402
from tests.standins.wechat import WeChatStandIn  # noqa: E402
from tests.standins.wecom import WeComStandIn  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "channels.jsonl"
SECRET = "bench-secret-token"
LIFTED = [1_000_000, 1.0]
TELEGRAM_CEILING = 30.0
NOTICE = "【汛期提醒】今晚到明天有强降雨，请检查阳台地漏、收好窗外杂物；地下室和低洼处的车辆尽快挪走。有险情请回复“报修”或拨打社区值班电话。"
FALLBACK_WAIT = 30.0


@dataclass
class Outcome:
    latency: Optional[float]  # None: no answer
    how: str  # "reply" (Telegram), "passive", "fallback", or what went wrong


class RestUsers:
    """The baseline: the same turns through Rasa's REST channel."""

    name = "rest"

    def __init__(self, stack: Stack, tag: str) -> None:
        self.url = f"{stack.url}/webhooks/rest/webhook"
        self.prefix = f"rest{tag}"
        self.ids = itertools.count()

    def new_user(self) -> str:
        return f"{self.prefix}{next(self.ids):06d}"

    async def turn(self, http: aiohttp.ClientSession, user: str, text: str) -> Outcome:
        start = time.monotonic()
        async with http.post(self.url, json={"sender": user, "message": text}) as answer:
            if answer.status != 200:
                return Outcome(None, f"http {answer.status}")
            replies = await answer.json()
        if not replies:
            return Outcome(None, "no reply")
        if any(reply.get("text") == SORRY for reply in replies):
            return Outcome(None, "apology")
        return Outcome(time.monotonic() - start, "reply")


class TelegramUsers:
    name = "telegram"

    def __init__(self, api: TelegramStandIn, stack: Stack, tag: str) -> None:
        self.api = api
        self.url = f"{stack.url}/webhooks/linli_telegram/webhook"
        self.tag = tag
        self.ids = itertools.count()

    def new_user(self) -> int:
        return int(f"{self.tag}{next(self.ids):06d}")

    async def turn(self, http: aiohttp.ClientSession, user: int, text: str) -> Outcome:
        update = self.api.message_update(user, text)
        start = time.monotonic()
        async with http.post(self.url, json=update, headers={SECRET_HEADER: SECRET}) as answer:
            await answer.read()
            if answer.status != 200:
                return Outcome(None, f"http {answer.status}")
        replies = self._replies_since(user, start)  # the webhook answers once the turn is over
        if not replies:
            return Outcome(None, "no reply")
        if any(call.params.get("text") == SORRY for call in replies):
            return Outcome(None, "apology")
        return Outcome(max(call.at for call in replies) - start, "reply")

    def _replies_since(self, user: int, start: float) -> list:
        found = []
        for call in reversed(self.api.calls):  # appended in time order
            if call.at < start:
                break
            if call.method == "sendMessage" and call.status == 200 and call.params.get("chat_id") == user:
                found.append(call)
        return found


class CallbackUsers:
    """WeChat Official Account or WeChat Work: the stand-in pushes, the reply is passive or comes
    later through the platform's send API."""

    def __init__(self, name: str, standin, stack: Stack, tag: str, api_path: str, user_prefix: str) -> None:
        self.name = name
        self.standin = standin
        self.standin.callback_url = f"{stack.url}/webhooks/{name}/webhook"
        self.api_path = api_path
        self.user_prefix = f"{user_prefix}{tag}"
        self.ids = itertools.count()

    def new_user(self) -> str:
        user = f"{self.user_prefix}{next(self.ids):06d}"
        if isinstance(self.standin, WeComStandIn):
            self.standin.members.add(user)
        return user

    async def turn(self, http: aiohttp.ClientSession, user: str, text: str) -> Outcome:
        start = time.monotonic()
        if isinstance(self.standin, WeChatStandIn):
            result = await self.standin.push(self.standin.text(user, text), encrypt=True)
        else:
            result = await self.standin.push(self.standin.text(user, text))
        if result.attempts > 1:
            return Outcome(None, "retried by the platform")
        if result.reply is not None:
            if result.reply.get("Content") == SORRY:
                return Outcome(None, "apology")
            return Outcome(time.monotonic() - start, "passive")
        if result.status != 200 or result.body != "success":
            return Outcome(None, f"http {result.status}")
        arrived = await self._api_message(user, start)
        return Outcome(arrived - start, "fallback") if arrived else Outcome(None, "no reply")

    async def _api_message(self, user: str, start: float) -> Optional[float]:
        deadline = time.monotonic() + FALLBACK_WAIT
        while time.monotonic() < deadline:
            for call in reversed(self.standin.calls):
                if call.at < start:
                    break
                if call.path == self.api_path and call.errcode == 0 and (call.body or {}).get("touser") == user:
                    return call.at
            await asyncio.sleep(0.01)
        return None


async def user_loop(channel, http: aiohttp.ClientSession, script: list[str], deadline: float,
                    outcomes: list[Outcome]) -> None:
    """One user's conversation, repeated as a new user each time (trackers stay realistic)."""
    while time.monotonic() < deadline:
        user = channel.new_user()
        for text in script:
            try:
                outcomes.append(await channel.turn(http, user, text))
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                outcomes.append(Outcome(None, type(error).__name__))


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and its running descendants (Rasa's Sanic workers are its children)."""
    total, pending = 0.0, [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


async def run_level(channel, users: int, seconds: float, script: list[str], stack: Stack) -> dict:
    connector = aiohttp.TCPConnector(limit=users)  # aiohttp sets TCP_NODELAY (see BENCHMARKS.md)
    actions, rasa = (process.pid for process in stack.processes)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
        await user_loop(channel, http, script, time.monotonic() + 0.001, [])  # warm-up, not measured
        outcomes: list[Outcome] = []
        cpu = (cpu_seconds(rasa), cpu_seconds(actions), time.process_time())
        start = time.monotonic()
        await asyncio.gather(*(user_loop(channel, http, script, start + seconds, outcomes) for _ in range(users)))
        elapsed = time.monotonic() - start
        cpu = [after - before for after, before in zip((cpu_seconds(rasa), cpu_seconds(actions), time.process_time()),
                                                       cpu)]
    answered = [o.latency for o in outcomes if o.latency is not None]
    how = Counter(o.how for o in outcomes)
    row = {"channel": channel.name, "users": users, "messages": len(outcomes),
           "messages_per_s": round(len(outcomes) / elapsed, 1),
           "p50_ms": round(percentile(answered, 0.5) * 1000, 1) if answered else None,
           "p99_ms": round(percentile(answered, 0.99) * 1000, 1) if answered else None,
           "errors": {k: v for k, v in how.items() if k not in ("reply", "passive", "fallback")},
           **{f"{name}_cpu_ms_per_message": round(seconds * 1000 / max(1, len(outcomes)), 2)
              for name, seconds in zip(("rasa", "actions", "bench"), cpu)}}
    if channel.name in ("wechat", "wecom"):
        row["passive_share"] = round(how["passive"] / max(1, len(outcomes)), 4)
        row["fallback_share"] = round(how["fallback"] / max(1, len(outcomes)), 4)
        passive = [o.latency for o in outcomes if o.how == "passive"]
        row["passive_p99_ms"] = round(percentile(passive, 0.99) * 1000, 1) if passive else None
    return row


def write_credentials(path: Path, telegram: TelegramStandIn, wechat: WeChatStandIn, wecom: WeComStandIn) -> None:
    credentials = {
        "rest": None,
        "bot.channels.telegram.TelegramInput": {
            "token": telegram.token, "secret_token": SECRET, "base_url": telegram.base_url,
            "base_file_url": telegram.base_file_url,
            "rate_limits": {"overall": LIFTED, "group": LIFTED, "chat": LIFTED}},
        "bot.channels.wechat.WeChatInput": wechat.credentials(encoding_aes_key=wechat.encoding_aes_key),
        "bot.channels.wecom.WeComInput": wecom.credentials(),
    }
    path.write_text(yaml.safe_dump(credentials, allow_unicode=True))


async def webhooks(opts, tag: str) -> list[dict]:
    lifted = tuple(LIFTED)
    telegram = await TelegramStandIn(token=f"{tag}:bench-token",
                                     limits=TelegramLimits(overall=lifted, group=lifted, chat=lifted)).start()
    wechat = await WeChatStandIn(appid=f"wx{tag}").start()
    wecom = await WeComStandIn(corp_id=f"ww{tag}").start()
    tmp = Path(tempfile.mkdtemp(prefix="linli-bench-channels-"))
    write_credentials(tmp / "credentials.yml", telegram, wechat, wecom)
    if opts.workers > 1:
        os.environ["SANIC_WORKERS"] = str(opts.workers)  # read by the Rasa server start_stack launches
    stack = await asyncio.to_thread(start_stack, tmp, redis_url=opts.redis, credentials=str(tmp / "credentials.yml"))
    rows = []
    try:
        script = SCRIPTS["linli"]
        channels = [RestUsers(stack, tag), TelegramUsers(telegram, stack, tag),
                    CallbackUsers("wechat", wechat, stack, tag, "message/custom/send", "o"),
                    CallbackUsers("wecom", wecom, stack, tag, "message/send", "staff")]
        for channel in channels:
            if opts.channels and channel.name not in opts.channels:
                continue
            for users in opts.users:
                load = os.getloadavg()[0]
                row = await run_level(channel, users, opts.seconds, script, stack)
                rows.append({"part": "webhooks", "workers": opts.workers, "load_before": round(load, 2), **row})
                print(json.dumps(rows[-1], ensure_ascii=False), flush=True)
    finally:
        stack.stop()
        for standin in (telegram, wechat, wecom):
            await standin.stop()
    return rows


def max_in_window(times: list[float], period: float) -> int:
    """The most deliveries in any ``period`` seconds (as the stand-in counts them)."""
    times, most, first = sorted(times), 0, 0
    for last, at in enumerate(times):
        while times[first] + period <= at:
            first += 1
        most = max(most, last - first + 1)
    return most


async def broadcast(opts, tag: str) -> list[dict]:
    api = await TelegramStandIn(token=f"{tag}:bench-token").start()  # Telegram's limits
    credentials = {"token": api.token, "secret_token": SECRET, "base_url": api.base_url,
                   "base_file_url": api.base_file_url}
    if not opts.memory:
        credentials["redis_url"] = opts.redis
    else:
        os.environ.pop("LINLI_REDIS_URL", None)
    senders = [TelegramInput.from_credentials(credentials) for _ in range(opts.senders)]
    for sender in senders:
        await sender.username()
    outputs = [sender.get_output_channel() for sender in senders]
    recipients = [int(f"{tag}{i:06d}") for i in range(opts.recipients)]
    load = os.getloadavg()[0]
    start, cpu = time.monotonic(), time.process_time()
    results = await asyncio.gather(*(outputs[i % len(outputs)].send_text_message(str(user), NOTICE)
                                     for i, user in enumerate(recipients)), return_exceptions=True)
    elapsed, cpu = time.monotonic() - start, time.process_time() - cpu
    times = api.send_times()
    await api.stop()
    rate = len(times) / elapsed
    row = {"part": "broadcast", "recipients": opts.recipients, "senders": opts.senders,
           "limiter": "memory" if opts.memory else "redis",
           "load_before": round(load, 2), "delivered": len(times), "seconds": round(elapsed, 1),
           "messages_per_s": round(rate, 2), "share_of_ceiling": round(rate / TELEGRAM_CEILING, 4),
           "too_many_requests": api.too_many_requests, "failed": sum(r is not None for r in results),
           "most_in_any_second": max_in_window(times, 1.0),
           "cpu_ms_per_message": round(cpu * 1000 / max(1, len(times)), 2)}  # senders and stand-in
    print(json.dumps(row, ensure_ascii=False), flush=True)
    return [row]


def forget_run(redis_url: str, tag: str) -> None:
    client = redis.Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"*{tag}*", count=1000):
        client.delete(key)
    client.close()


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    args.add_argument("part", choices=["webhooks", "broadcast"])
    args.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args.add_argument("--users", type=int, nargs="+", default=[10, 50])
    args.add_argument("--seconds", type=float, default=20.0, help="measured time per level")
    args.add_argument("--channels", nargs="*", choices=["rest", "telegram", "wechat", "wecom"])
    args.add_argument("--workers", type=int, default=2, help="Rasa processes (Sanic workers)")
    args.add_argument("--recipients", type=int, default=5000)
    args.add_argument("--senders", type=int, default=1, help="channel instances sharing the broadcast")
    args.add_argument("--memory", action="store_true", help="broadcast windows in memory, not in Redis")
    opts = args.parse_args()
    tag = str(random.randrange(10 ** 7, 10 ** 8))  # in every id and key of this run
    machine = {"machine": platform.machine(), "cpus": os.cpu_count(), "python": platform.python_version()}
    try:
        rows = asyncio.run(webhooks(opts, tag) if opts.part == "webhooks" else broadcast(opts, tag))
    finally:
        forget_run(opts.redis, tag)
    RESULTS.parent.mkdir(exist_ok=True)
    with RESULTS.open("a") as sink:
        for row in rows:
            sink.write(json.dumps({**row, **machine, "at": time.strftime("%F %T")}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
