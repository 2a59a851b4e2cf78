"""Send windows shared through Redis: every process sending as one bot or robot stays within its limits.

The platforms count per bot (Telegram) and per robot (WeChat Work), so two limiters that do not
share their windows (two Rasa processes) would each allow the full rate. Here two independent
channel instances, or a second process, send at once against the stand-ins, which enforce the
platforms' limits and answer anything beyond them with 429 / 45009.
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time

import pytest
import redis

from bot.channels.ratelimit import KEY_PREFIX, LEASE, RedisWindow, SendWindows, SlidingWindow
from bot.channels.telegram import TelegramInput
from bot.channels.wecom import WeComInput
from bot.core.settings import PROJECT_ROOT
from tests.standins.telegram import TelegramLimits, TelegramStandIn
from tests.standins.wecom import WeComStandIn

GROUP = -100500
# Telegram's real overall window, with the per-chat (1 a second) and per-group (20 a minute)
# windows scaled down by 20 so that a group's second window fits in a short test.
SCALED = TelegramLimits(overall=(30, 1.0), group=(20, 3.0), chat=(1, 0.05))


@pytest.fixture
async def api(redis_url):
    _, tag = redis_url
    standin = await TelegramStandIn(token=f"{tag}:stand-in").start()  # Telegram's real limits
    yield standin
    await standin.stop()


def credentials(api: TelegramStandIn, redis_at: str | None) -> dict:
    found = {"token": api.token, "secret_token": "s3cret", "base_url": api.base_url,
             "base_file_url": api.base_file_url,
             "rate_limits": {"overall": api.limits.overall, "group": api.limits.group, "chat": api.limits.chat}}
    return {**found, "redis_url": redis_at} if redis_at else found


def assert_within(times: list[float], limit: int, period: float) -> None:
    """No ``limit + 1`` deliveries in any ``period`` seconds."""
    times = sorted(times)
    assert all(later - earlier >= period for earlier, later in zip(times, times[limit:]))


def assert_telegram_limits_held(api: TelegramStandIn, chats: set) -> None:
    assert api.too_many_requests == 0
    assert_within(api.send_times(), *api.limits.overall)
    for chat in chats:
        assert_within(api.send_times(chat), *api.limits.chat)
        if chat < 0:
            assert_within(api.send_times(chat), *api.limits.group)


async def send_all(channel: TelegramInput, messages: list[tuple[int, str]]) -> list:
    out = channel.get_output_channel()
    return await asyncio.gather(*(out.send_text_message(str(chat), text) for chat, text in messages),
                                return_exceptions=True)


def hundred_messages() -> list[tuple[int, str]]:
    """30 residents twice each and 40 posts to one group (two group windows' worth)."""
    chats = [3000 + i for i in range(30)] * 2 + [GROUP] * 40
    return [(chat, f"停水通知 {n}") for n, chat in enumerate(chats)]


async def test_two_limiters_sharing_redis_send_100_at_once_without_a_429(api, redis_url):
    url, _ = redis_url
    api.limits = SCALED
    first, second = (TelegramInput.from_credentials(credentials(api, url)) for _ in range(2))
    messages = hundred_messages()
    results = await asyncio.gather(send_all(first, messages[0::2]), send_all(second, messages[1::2]))
    assert [r for r in results[0] + results[1] if r is not None] == []
    assert len(api.sent("sendMessage")) == 100
    assert_telegram_limits_held(api, {chat for chat, _ in messages})


async def test_without_redis_two_limiters_each_allow_the_full_rate(api, monkeypatch):
    """The control: in-memory windows are per process, and the platform sees twice the rate."""
    monkeypatch.delenv("LINLI_REDIS_URL", raising=False)
    first, second = (TelegramInput.from_credentials(credentials(api, None)) for _ in range(2))
    messages = [(4000 + i, "通知") for i in range(60)]
    await asyncio.gather(send_all(first, messages[0::2]), send_all(second, messages[1::2]))
    assert api.too_many_requests > 0


CHILD = """
import asyncio, json, sys
from bot.channels.telegram import TelegramInput

async def main():
    channel = TelegramInput.from_credentials(json.loads(sys.argv[1]))
    out = channel.get_output_channel()
    await channel.username()
    print("ready", flush=True)
    sys.stdin.readline()
    messages = json.loads(sys.argv[2])
    await asyncio.gather(*(out.send_text_message(str(chat), text) for chat, text in messages))
    print("done", flush=True)

asyncio.run(main())
"""


async def start_child(code: str, *args: str) -> asyncio.subprocess.Process:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", code, *args, cwd=PROJECT_ROOT, stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)})
    line = await asyncio.wait_for(child.stdout.readline(), 60)
    assert line.strip() in (b"ready", b"held"), f"child did not start: {line!r}"
    return child


async def test_another_process_and_this_one_share_the_windows(api, redis_url):
    """At Telegram's real limits: 25 residents get 4 messages each, 2 from either process."""
    url, _ = redis_url
    chats = [5000 + i for i in range(25)] * 4
    messages = [(chat, f"议事协商会通知 {n}") for n, chat in enumerate(chats)]
    child = await start_child(CHILD, json.dumps(credentials(api, url)), json.dumps(messages[1::2]))
    try:
        mine = TelegramInput.from_credentials(credentials(api, url))
        await mine.username()
        child.stdin.write(b"go\n")
        await child.stdin.drain()
        results = await send_all(mine, messages[0::2])
        assert await asyncio.wait_for(child.stdout.readline(), 60) == b"done\n"
    finally:
        if child.returncode is None:
            child.kill()
        await child.wait()
    assert [r for r in results if r is not None] == []
    assert len(api.sent("sendMessage")) == 100
    assert_telegram_limits_held(api, set(chats))


HOLDER = """
import asyncio, sys
from bot.channels.ratelimit import SendWindows

async def main():
    window = SendWindows(sys.argv[1], sys.argv[2], lease=float(sys.argv[3])).window("chat:1", 1, 0.2)
    await window.acquire()
    print("held", flush=True)
    await asyncio.sleep(3600)

asyncio.run(main())
"""


async def test_the_slot_of_a_process_that_died_is_free_once_its_lease_runs_out(redis_url):
    """Told on Redis's clock, where the leases live (scores are microseconds of Redis TIME): the
    dead holder's lease ends one lease after its claim; the slot is claimed again no sooner than
    that, and every refusal meanwhile sent the claimant back within one period."""
    url, tag = redis_url
    client = redis.Redis.from_url(url)
    key = f"{KEY_PREFIX}test:{tag}:chat:1"

    def redis_now() -> int:
        seconds, micros = client.time()
        return seconds * 1_000_000 + micros

    before = redis_now()
    child = await start_child(HOLDER, f"test:{tag}", url, "1.0")
    after = redis_now()
    [(dead, lease_end)] = client.zrange(key, 0, -1, withscores=True)
    assert dead.startswith(b"i:") and before + 1_000_000 <= lease_end <= after + 1_000_000
    os.kill(child.pid, signal.SIGKILL)
    await child.wait()

    window = SendWindows(f"test:{tag}", url).window("chat:1", 1, 0.2)
    answers, claim = [], window.slots.claim

    async def recorded_claim(*args):
        answers.append(await claim(*args))
        return answers[-1]

    window.slots.claim = recorded_claim
    slot = await asyncio.wait_for(window.acquire(), 30)
    [(mine, mine_ends)] = client.zrange(key, 0, -1, withscores=True)
    await window.release(slot)
    client.close()
    assert mine != dead and mine_ends - LEASE * 1_000_000 >= lease_end, "claimed before the dead lease ran out"
    refusals = [wait for token, wait in answers if token is None]
    assert answers[-1][0] is not None and all(0 < wait <= 0.2 for wait in refusals), answers


async def test_a_live_process_keeps_its_slot_however_long_the_send_takes(redis_url):
    url, tag = redis_url
    holder = SendWindows(f"test:{tag}", url, lease=0.6).window("chat:2", 1, 0.2)
    other = SendWindows(f"test:{tag}", url, lease=0.6).window("chat:2", 1, 0.2)
    slot = await holder.acquire()
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(other.acquire(), 2.0)  # more than three leases
    released = time.monotonic()  # taken before the release: the other's wait can only look longer
    await holder.release(slot)
    await other.release(await asyncio.wait_for(other.acquire(), 2.0))
    assert time.monotonic() - released >= 0.2  # the finished send counts for its period


async def test_keys_are_prefixed_per_bot_and_expire(api, redis_url):
    url, tag = redis_url
    channel = TelegramInput.from_credentials(credentials(api, url))
    await send_all(channel, [(6001, "你好"), (GROUP, "大家好")])
    client = redis.Redis.from_url(url)
    keys = {key.decode() for key in client.scan_iter(match=f"{KEY_PREFIX}telegram:{tag}:*")}
    assert keys == {f"{KEY_PREFIX}telegram:{tag}:{name}" for name in ("overall", "chat:6001", f"chat:{GROUP}",
                                                                      f"group:{GROUP}")}
    periods = {"overall": 1.0, "chat": 1.0, "group": 60.0}
    for key in keys:
        longest = max(periods[key.split(":")[4]], 30.0)  # a finished send's period or an in-flight lease
        assert 0 < client.pttl(key) <= (longest + 1) * 1000
    client.close()


def test_redis_is_used_whenever_it_is_configured(monkeypatch, redis_url):
    url, _ = redis_url
    monkeypatch.delenv("LINLI_REDIS_URL", raising=False)
    assert isinstance(SendWindows.from_settings("telegram:1").window("overall", 30, 1.0), SlidingWindow)
    assert isinstance(SendWindows.from_settings("telegram:1", url).window("overall", 30, 1.0), RedisWindow)
    monkeypatch.setenv("LINLI_REDIS_URL", url)
    window = SendWindows.from_settings("telegram:1").pool("chat", 1, 1.0)[42]
    assert isinstance(window, RedisWindow) and window.key == f"{KEY_PREFIX}telegram:1:chat:42"


async def test_two_wecom_processes_share_a_robots_20_a_minute(redis_url):
    """The robot window scaled to 20 per second on both sides."""
    url, _ = redis_url
    work = await WeComStandIn(robot_limit=20, robot_period=1.0).start()
    first, second = (WeComInput.from_credentials(work.credentials(
        robots={"xiyuan": "robot-key-xiyuan"}, robot_limit=[20, 1.0], redis_url=url)) for _ in range(2))
    try:
        outs = [first.get_output_channel(), second.get_output_channel()]
        await asyncio.gather(*(outs[i % 2].send_text_message("robot:xiyuan", f"防汛提醒第{i}条") for i in range(50)))
        posts = work.robot_posts()
        assert len(posts) == 50 and 45009 not in work.errors()
        assert_within([p.at for p in posts], 20, 1.0)
    finally:
        client = redis.Redis.from_url(url)
        client.delete(first.robots["xiyuan"].window.key)
        client.close()
        await work.stop()
