"""Stock Rasa and Linli side by side in one run: turns/s, latency, their ratio, CPU per turn.

For each process layout both bots are started and stay up for the whole layout; for each level
(residents at once) the passes alternate stock, Linli, stock, Linli (``--rounds`` pairs), each pass
``--seconds`` long with new senders only. A resident runs the script again and again, a new sender
each time, and waits for every answer before the next message (aiohttp client, which sets
TCP_NODELAY; each conversation on a connection of its own, so conversations spread over Sanic
workers as they arrive). A turn is one POST to ``/webhooks/rest/webhook``, timed until the whole reply arrived.

Layouts:
- ``1``: one Rasa process with in-memory tracker and lock stores. Stock: ``rasa run``. Linli:
  ``python -m bot.cli run`` (its Rasa process, the action server, the scheduler).
- ``2``: two Rasa workers on Redis tracker and lock stores. Stock: ``SANIC_WORKERS=2 rasa run`` with an
  endpoints file naming both Redis stores. Linli: ``python -m bot.cli run --workers 2`` with
  ``LINLI_REDIS_URL``.

Scripts (five turns each):
- ``linli``: bench/turns.py's complaint (everything in the first message), its confirmation, a status
  check, a FAQ (12345), thanks;
- ``table``: a complaint, its confirmation, a status check, a property-hotline question, thanks;
- the stock bot always runs its moodbot script of the same length (greet, mood_great, mood_unhappy,
  affirm, goodbye).
From the second pass on, a complaint at 5号楼 meets the open leak ticket there and the resident
follows it ("确认" joins the ticket); ``--tickets N --followers M`` prefill Linli's database first
(bench/prefill.py: N tickets over a year, M followers on that one open ticket) for the "flat as
tickets pile up" measurement.

CPU per turn is utime + stime over the pass, from /proc/<pid>/stat, for each process of each stack
(found by walking /proc from the process the benchmark started; Linli's Rasa processes and action
server are told apart by the port their process tree listens on), divided by the pass's turns. The
benchmark's own CPU (the client) and the idle bot's stack are reported too.

The stock bot is built once with ``rasa init --no-prompt`` into bench/results/stock (git-ignored)
and reused. Linli runs from this worktree (model trained if missing). Everything listens on
127.0.0.1 ports chosen at start; Redis is ``--redis`` (use a db of your own: it is flushed before and
after each layout); Linli's database is a fresh SQLite file per layout unless ``--database-url``.

    python bench/compare.py                                 # layouts 1 and 2, 1/10/50 residents, 15 s
    python bench/compare.py --layouts 1 --residents 1 10 --seconds 4   # a quick look
    python bench/compare.py --script table --tickets 100000 --followers 5000
    python bench/compare.py --bots linli --layouts 2 --residents 50 --py-spy bench/results/profile

Prints the machine, the commit and the load average first, a line per pass, then a table per layout;
appends JSON lines to bench/results/compare.jsonl. Stops by itself; Ctrl-C stops the stacks too.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Optional
from urllib.parse import urlparse

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
STOCK_DIR = RESULTS / "stock"
PYTHON = sys.executable
CLOCK_TICK = os.sysconf("SC_CLK_TCK")
STARTED: list = []  # every stack started, stopped again whatever happens

sys.path.insert(0, str(ROOT))
from bench.prefill import prefill  # noqa: E402

COMPLAINT = "万柳西园5号楼2单元502屋顶漏水了，电话13812345678"
SCRIPTS = {
    "linli": [COMPLAINT, "确认", "我报的事怎么样了", "12345是干什么的", "谢谢"],
    "table": [COMPLAINT, "确认", "我报的事怎么样了", "物业电话多少", "谢谢"],
}
STOCK_SCRIPT = ["hello", "I am feeling great", "I am sad", "yes", "bye"]
LAYOUTS = {1: "1 Rasa process, in-memory stores", 2: "2 Rasa workers, Redis tracker + lock stores"}
START_TIMEOUT = 420.0
STOP_TIMEOUT = 40.0
TURN_TIMEOUT = 60.0


# -- processes ------------------------------------------------------------------------------------

def children_of(pid: int) -> list[int]:
    found = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        pass
    return found


def tree(pid: int) -> list[int]:
    pids, pending = [], [pid]
    while pending:
        current = pending.pop()
        pids.append(current)
        pending += children_of(current)
    return pids


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process (all its threads), 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLOCK_TICK
    except (FileNotFoundError, ProcessLookupError):
        return 0.0


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def listening_inodes(port: int) -> set[str]:
    inodes = set()
    for name in ("tcp", "tcp6"):
        try:
            lines = Path(f"/proc/net/{name}").read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            parts = line.split()
            if parts[3] == "0A" and int(parts[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(parts[9])
    return inodes


def holds_socket(pid: int, inodes: set[str]) -> bool:
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return True
    except (FileNotFoundError, PermissionError):
        pass
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_port(port: int, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"process {process.pid} exited ({process.returncode}) before port {port} opened")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise TimeoutError(f"nothing listened on port {port} within {timeout:.0f} s")


def git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def machine() -> dict:
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    memory = next((line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
                   if line.startswith("MemTotal")), "0")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "?"
    return {"nproc": os.cpu_count(), "cpu": model, "memory_gib": round(int(memory) / 2 ** 20, 1),
            "python": platform.python_version(), "rasa": version("rasa"), "rasa_sdk": version("rasa-sdk"),
            "commit": git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else ""),
            "branch": git("rev-parse", "--abbrev-ref", "HEAD")}


def calibration() -> float:
    """Seconds of CPU for a fixed pure-Python loop: the machine's single-core speed at this moment
    (shared or throttled cores show here before they show in the figures)."""
    best = float("inf")
    for _ in range(3):
        start = time.process_time()
        sum(range(10_000_000))
        best = min(best, time.process_time() - start)
    return round(best, 3)


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "load average: {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())


# -- stacks ---------------------------------------------------------------------------------------

@dataclass
class Stack:
    """One bot in one layout: the process the benchmark started and the ports it serves."""

    bot: str  # "stock" | "linli"
    layout: int
    rasa_port: int
    action_port: Optional[int]
    command: list[str]
    env: dict
    cwd: Path
    log: Path
    process: Optional[subprocess.Popen] = None
    roles: dict = field(default_factory=dict)  # pid -> "rasa" | "actions" | "scheduler" | …

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    def start(self) -> "Stack":
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdout=sink,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        STARTED.append(self)
        return self

    def wait_listening(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for port in filter(None, (self.action_port, self.rasa_port)):
            wait_port(port, self.process, max(1.0, deadline - time.monotonic()))

    def classify(self) -> dict:
        """Each process of the stack by what it serves: the subtree listening on the Rasa port is
        Rasa (server and Sanic workers), on the action port the action server; others by name."""
        top = self.process.pid
        rasa_inodes = listening_inodes(self.rasa_port)
        action_inodes = listening_inodes(self.action_port) if self.action_port else set()
        roles = {top: "launcher" if self.bot != "stock" else "rasa"}
        for child in (children_of(top) if self.bot != "stock" else [top]):
            members = tree(child)
            if any(holds_socket(p, rasa_inodes) for p in members):
                role = "rasa"
            elif action_inodes and any(holds_socket(p, action_inodes) for p in members):
                role = "actions"
            else:
                words = cmdline(child).split()
                role = "scheduler" if any("schedul" in w for w in words) else (words[2] if len(words) > 2 else "other")
            for pid in members:
                roles[pid] = role
        self.roles = roles
        return roles

    def cpu(self) -> dict[int, float]:
        return {pid: cpu_seconds(pid) for pid in self.roles}

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.kill(self.process.pid, signal.SIGTERM)  # Linli's launcher stops its children itself
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        except ProcessLookupError:
            return
        finally:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)  # the session started for this stack only
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                pass


def redis_parts(url: str) -> tuple[str, int, int]:
    parsed = urlparse(url)
    return parsed.hostname or "127.0.0.1", parsed.port or 6379, int((parsed.path or "/0").strip("/") or 0)


def flush_redis(url: str) -> None:
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    client.close()


def ensure_stock(log: Path) -> Path:
    """The stock bot: ``rasa init --no-prompt`` once (trains its model), reused afterwards."""
    models = sorted((STOCK_DIR / "models").glob("*.tar.gz"))
    if models:
        return models[-1]
    if STOCK_DIR.exists():
        shutil.rmtree(STOCK_DIR)
    STOCK_DIR.mkdir(parents=True)
    print(f"building the stock bot: rasa init --no-prompt --init-dir {STOCK_DIR} (a few minutes)", flush=True)
    with log.open("ab") as sink:
        subprocess.run([PYTHON, "-m", "rasa", "init", "--no-prompt", "--init-dir", str(STOCK_DIR)], cwd=STOCK_DIR,
                       stdout=sink, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=True, timeout=1800)
    models = sorted((STOCK_DIR / "models").glob("*.tar.gz"))
    if not models:
        raise SystemExit(f"rasa init made no model; see {log}")
    return models[-1]


def ensure_linli_model(log: Path, env: dict, root: Path) -> None:
    with log.open("ab") as sink:
        subprocess.run([PYTHON, "-m", "bot.cli", "train"], cwd=root, env=env, stdout=sink, stderr=subprocess.STDOUT,
                       stdin=subprocess.DEVNULL, check=True, timeout=1800)


def base_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINLI_") and k != "SANIC_WORKERS"}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def stock_stack(layout: int, model: Path, run_dir: Path, redis_url: str) -> Stack:
    env, port = base_env(), free_port()
    endpoints = STOCK_DIR / "endpoints.yml"  # rasa init's: everything commented out (in-memory stores)
    if layout > 1:
        host, redis_port, db = redis_parts(redis_url)
        endpoints = run_dir / "stock-endpoints-redis.yml"
        stores = {"url": host, "port": redis_port, "db": db}
        endpoints.write_text(json.dumps({"tracker_store": {"type": "redis", **stores, "key_prefix": "stocktracker"},
                                         "lock_store": {"type": "redis", **stores, "key_prefix": "stocklock"}}))
        env["SANIC_WORKERS"] = str(layout)
    command = [PYTHON, "-m", "rasa", "run", "--model", str(model), "--port", str(port), "--endpoints", str(endpoints)]
    return Stack("stock", layout, port, None, command, env, STOCK_DIR, run_dir / f"stock-{layout}.log")


def linli_env(layout: int, run_dir: Path, redis_url: str, database_url: Optional[str],
              bot: str = "linli") -> tuple[dict, Path]:
    var = run_dir / f"{bot}-{layout}"
    var.mkdir(parents=True, exist_ok=True)
    (var / "credentials.yml").write_text("{}\n")  # no platform channels; Linli's REST channel from LINLI_REST
    env = base_env()
    # As `linli run` is allowed to start without tokens: REST and Rasa's API on this machine only.
    env.update(LINLI_VAR_DIR=str(var), LINLI_DATABASE_URL=database_url or f"sqlite:///{var / 'linli.db'}",
               LINLI_CREDENTIALS=str(var / "credentials.yml"), LINLI_RASA_PORT=str(free_port()),
               LINLI_ACTION_PORT=str(free_port()), LINLI_SCHEDULER_KEY_PREFIX=f"bench{bot}",
               LINLI_REST="on", LINLI_RASA_HOST="127.0.0.1", LINLI_HEALTH_PORT=str(free_port()),
               LINLI_CONSOLE_PORT=str(free_port()))
    if layout > 1:
        env["LINLI_REDIS_URL"] = redis_url
    return env, var


def linli_stack(layout: int, env: dict, run_dir: Path, root: Path, bot: str = "linli") -> Stack:
    command = [PYTHON, "-m", "bot.cli", "run"] + (["--workers", str(layout)] if layout > 1 else [])
    return Stack(bot, layout, int(env["LINLI_RASA_PORT"]), int(env["LINLI_ACTION_PORT"]), command, env, root,
                 run_dir / f"{bot}-{layout}.log")


# -- load -----------------------------------------------------------------------------------------

def percentile(values: list[float], q: float) -> Optional[float]:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def resident(http: aiohttp.ClientSession, url: str, script: list[str], prefix: str, deadline: float,
                   latencies: list[float], errors: list[str], once: bool = False,
                   finished: Optional[list] = None, started: Optional[list] = None, delay: float = 0.0) -> None:
    await asyncio.sleep(delay)
    while once or time.monotonic() < deadline:
        sender = f"{prefix}-{uuid.uuid4().hex[:12]}"
        if started is not None:
            started.append(sender)
        for turn, text in enumerate(script):
            # A conversation has a connection of its own (closed after its last turn), so the kernel
            # spreads conversations over Sanic workers as they come, not a burst of them onto one.
            headers = {"Connection": "close"} if turn == len(script) - 1 else None
            start = time.perf_counter()
            try:
                async with http.post(f"{url}/webhooks/rest/webhook", json={"sender": sender, "message": text},
                                     headers=headers) as reply:
                    if reply.status != 200:
                        errors.append(f"http {reply.status}")
                        continue
                    if not await reply.json():
                        errors.append(f"empty reply to {text!r}")
                        continue
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                errors.append(type(error).__name__)
                continue
            latencies.append(time.perf_counter() - start)
        if finished is not None:
            finished.append(sender)
        if once:
            return


async def load(url: str, script: list[str], residents: int, seconds: float, prefix: str) -> dict:
    latencies: list[float] = []
    errors: list[str] = []
    finished: list = []
    started: list = []
    connector = aiohttp.TCPConnector(limit=residents)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=TURN_TIMEOUT)) as http:
        start = time.monotonic()
        # Residents arrive over the first moment (at most 1 s), not in one burst: a burst of connects
        # is accepted by whichever Sanic worker wakes first, which then holds all of them.
        spread = min(1.0, seconds / 10) / residents
        await asyncio.wait_for(
            asyncio.gather(*(resident(http, url, script, f"{prefix}{i}", start + seconds, latencies, errors,
                                      finished=finished, started=started, delay=i * spread)
                             for i in range(residents))),
            seconds + TURN_TIMEOUT * len(script) + 30)
        elapsed = time.monotonic() - start
    return {"latencies": latencies, "errors": errors, "elapsed": elapsed, "conversations": len(finished),
            "finished": finished, "started": started}


async def actions_run(url: str, started: list[str], finished: list[str], most: int = 2000, prefix: str = "") -> dict:
    """What Rasa ran during a pass, read back from the trackers of its conversations (Linli serves
    Rasa's HTTP API; every conversation of a pass has a sender of its own): user turns, each
    action's runs and form activations, in total over the pass (``in_pass``, partial conversations
    included: with the CPU of the pass this gives ms per call) and per whole conversation."""
    whole = set(finished)
    totals: dict = {}
    per_whole: dict = {}
    read = whole_read = 0
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TURN_TIMEOUT)) as http:
        for sender in started[:most]:
            async with http.get(f"{url}/conversations/{prefix}{sender}/tracker") as reply:
                if reply.status != 200:
                    continue
                events = (await reply.json()).get("events") or []
            read += 1
            whole_read += sender in whole
            for event in events:
                kind = event.get("event")
                name = "user turns" if kind == "user" else event.get("name") if kind == "action" else \
                    f"{event['name']} activated" if kind == "active_loop" and event.get("name") else None
                if name and name not in ("action_listen", "action_session_start"):
                    totals[name] = totals.get(name, 0) + 1
                    if sender in whole:
                        per_whole[name] = per_whole.get(name, 0) + 1
    return {"conversations_read": read, "complete": read == len(started), "in_pass": totals,
            "whole_conversations_read": whole_read,
            "per_conversation": {k: round(v / max(1, whole_read), 3) for k, v in per_whole.items()}}


async def warm_up(stack: Stack, script: list[str], timeout: float) -> None:
    """Until the bot answers, then a few conversations on several connections at once (each Sanic
    worker loads its model and traces its graphs on its first messages)."""
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=TURN_TIMEOUT)) as http:
        while True:
            errors: list[str] = []
            await resident(http, stack.url, script[:1], f"warm-{stack.bot}", 0, [], errors, once=True)
            if not errors:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{stack.bot} does not answer: {errors[-1]}")
            await asyncio.sleep(1)
    for _ in range(2):
        await load(stack.url, script, 2 * stack.layout + 2, 0.01, f"warm-{stack.bot}")


# -- passes ---------------------------------------------------------------------------------------

def role_cpu(stack: Stack, before: dict, after: dict) -> dict:
    """CPU seconds per role, and per process for Rasa (its workers) — only what moved."""
    roles: dict = {}
    for pid, role in stack.roles.items():
        used = after.get(pid, 0.0) - before.get(pid, 0.0)
        roles.setdefault(role, {"total": 0.0, "processes": {}})
        roles[role]["total"] += used
        roles[role]["processes"][pid] = used
    return roles


@dataclass
class Pass:
    bot: str
    layout: int
    residents: int
    round: int
    turns: int
    errors: int
    elapsed: float
    latencies: list
    cpu: dict  # role -> {"total", "processes"}
    client_cpu: float
    idle_cpu: float  # the other bot's stack, idle meanwhile
    load_before: float
    error_sample: list
    conversations: int = 0

    def row(self) -> dict:
        per_turn = lambda seconds: round(seconds * 1000 / max(1, self.turns), 2)  # noqa: E731
        return {"bot": self.bot, "layout": self.layout, "residents": self.residents, "round": self.round,
                "turns": self.turns, "errors": self.errors, "error_sample": self.error_sample,
                "seconds": round(self.elapsed, 2), "turns_per_s": round(self.turns / self.elapsed, 2),
                "p50_ms": ms(percentile(self.latencies, 0.5)), "p99_ms": ms(percentile(self.latencies, 0.99)),
                "cpu_ms_per_turn": {role: per_turn(v["total"]) for role, v in self.cpu.items()},
                "rasa_processes_ms_per_turn": sorted((per_turn(s) for s in self.cpu.get("rasa", {}).get(
                    "processes", {}).values() if s > 0.05), reverse=True),
                "conversations": self.conversations,
                # Every resident's last conversation is cut short by the end of the pass; with fewer
                # than two whole ones each, the mix leans to first turns (for Linli: the form).
                "mix_biased": self.conversations < 2 * self.residents,
                "client_cpu_ms_per_turn": per_turn(self.client_cpu), "idle_stack_cpu_s": round(self.idle_cpu, 2),
                "load_before": self.load_before}


def ms(seconds: Optional[float]) -> Optional[float]:
    return round(seconds * 1000, 1) if seconds is not None else None


async def run_pass(stack: Stack, others: list[Stack], script: list[str], residents: int, seconds: float,
                   round_: int, spy: Optional["Spy"]) -> Pass:
    stack.classify()
    for other in others:
        other.classify()
    idle_cpu = lambda: {(id(o), pid): used for o in others for pid, used in o.cpu().items()}  # noqa: E731
    load_before = round(os.getloadavg()[0], 2)
    recorders = spy.start(stack, residents, round_) if spy else []
    before, idle_before, client_before = stack.cpu(), idle_cpu(), time.process_time()
    prefix = f"{stack.bot[0]}{stack.layout}r{residents}p{round_}"
    result = await load(stack.url, script, residents, seconds, prefix)
    after, idle_after, client_after = stack.cpu(), idle_cpu(), time.process_time()
    if spy and recorders:
        await asyncio.to_thread(spy.wait, recorders)
    idle = sum(idle_after.get(p, 0.0) - idle_before.get(p, 0.0) for p in idle_after)
    done = Pass(stack.bot, stack.layout, residents, round_, len(result["latencies"]), len(result["errors"]),
                result["elapsed"], result["latencies"], role_cpu(stack, before, after), client_after - client_before,
                idle, load_before, sorted(set(result["errors"]))[:3], result["conversations"])
    if spy and recorders:
        row = done.row()
        # Linli's REST conversations are "rest:<sender>" (bot/channels/rest.py)
        row["actions"] = await actions_run(stack.url, result["started"], result["finished"],
                                           prefix="" if stack.bot == "stock" else "rest:")
        row["linli_root"] = str(stack.cwd)  # the sources the recorded line numbers belong to
        spy.write(recorders, row)
    return done


class Spy:
    """py-spy recordings of Linli's Rasa processes and action server during chosen passes."""

    def __init__(self, out: Path, levels: list[int], rate: int, fmt: str) -> None:
        self.out, self.levels, self.rate, self.fmt = out, levels, rate, fmt
        self.binary = shutil.which("py-spy") or str(Path(PYTHON).with_name("py-spy"))
        if not Path(self.binary).exists():
            raise SystemExit("--py-spy needs py-spy (pip install py-spy)")
        out.mkdir(parents=True, exist_ok=True)

    def start(self, stack: Stack, residents: int, round_: int) -> list:
        if stack.bot == "stock" or residents not in self.levels:
            return []
        recorders = []
        tops = {}
        for pid, role in stack.roles.items():  # the top process of each role's subtree
            if role in ("rasa", "actions") and role not in tops:
                tops[role] = pid
        suffix = {"flamegraph": "svg", "speedscope": "json", "raw": "txt"}[self.fmt]
        for role, pid in tops.items():
            path = self.out / f"{role}-layout{stack.layout}-r{residents}-p{round_}.{suffix}"
            # No --duration: the recording covers the whole pass, which outlasts --seconds by the
            # turns still under way, and stops with SIGINT (py-spy then writes its file).
            command = [self.binary, "record", "--pid", str(pid), "--rate", str(self.rate), "--format", self.fmt,
                       "--output", str(path)]
            if role == "rasa":
                command.append("--subprocesses")
            recorders.append((subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL), path))
        time.sleep(0.5)  # let py-spy attach before the load starts
        return recorders

    @staticmethod
    def wait(recorders: list) -> None:
        for recorder, _ in recorders:
            recorder.send_signal(signal.SIGINT)
        for recorder, _ in recorders:
            try:
                recorder.wait(120)
            except subprocess.TimeoutExpired:
                recorder.kill()

    @staticmethod
    def write(recorders: list, row: dict) -> None:
        """Beside each recording, the pass's figures: bench/profile_report.py turns samples into ms
        per turn with the CPU measured here, and into ms per call with the actions counted here."""
        for _, path in recorders:
            path.with_suffix(".pass.json").write_text(json.dumps(row, ensure_ascii=False, indent=1))


# -- report ---------------------------------------------------------------------------------------

def combine(passes: list[Pass]) -> dict:
    turns = sum(p.turns for p in passes)
    elapsed = sum(p.elapsed for p in passes)
    latencies = [x for p in passes for x in p.latencies]
    cpu: dict = {}
    rasa_procs: dict = {}
    for p in passes:
        for role, used in p.cpu.items():
            cpu[role] = cpu.get(role, 0.0) + used["total"]
        for pid, used in p.cpu.get("rasa", {}).get("processes", {}).items():
            rasa_procs[pid] = rasa_procs.get(pid, 0.0) + used
    per_turn = lambda seconds: seconds * 1000 / max(1, turns)  # noqa: E731
    return {"turns": turns, "errors": sum(p.errors for p in passes), "turns_per_s": turns / elapsed if elapsed else 0,
            "passes": [round(p.turns / p.elapsed, 1) for p in passes],
            "p50_ms": ms(percentile(latencies, 0.5)), "p99_ms": ms(percentile(latencies, 0.99)),
            "cpu": {role: per_turn(s) for role, s in cpu.items()},
            "rasa_processes": sorted((per_turn(s) for s in rasa_procs.values() if s > 0.05), reverse=True),
            "client": per_turn(sum(p.client_cpu for p in passes)), "idle": sum(p.idle_cpu for p in passes),
            "load_before": [p.load_before for p in passes]}


def print_table(layout: int, levels: list[int], passes: list[Pass], bots: list[str]) -> list[dict]:
    print(f"\n## Layout {layout}: {LAYOUTS[layout]}")
    header = ("residents", "bot", "turns/s", "passes", "p50 ms", "p99 ms", "errors", "Rasa CPU ms/turn (per process)",
              "actions ms/turn", "other ms/turn", "client ms/turn", "Linli ÷ stock") + (
        ("Linli ÷ base",) if "base" in bots else ())
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    summary = []
    for level in levels:
        rows = {bot: combine([p for p in passes if p.bot == bot and p.residents == level]) for bot in bots}
        ratio = (rows["linli"]["turns_per_s"] / rows["stock"]["turns_per_s"]
                 if "linli" in rows and "stock" in rows and rows["stock"]["turns_per_s"] else None)
        versus_base = (rows["linli"]["turns_per_s"] / rows["base"]["turns_per_s"]
                       if "linli" in rows and "base" in rows and rows["base"]["turns_per_s"] else None)
        for bot, row in rows.items():
            if not row["turns"]:
                continue
            rasa = row["cpu"].get("rasa", 0.0)
            split = " + ".join(f"{x:.1f}" for x in row["rasa_processes"]) if len(row["rasa_processes"]) > 1 else ""
            other = sum(v for k, v in row["cpu"].items() if k not in ("rasa", "actions"))
            actions = f"{row['cpu']['actions']:.1f}" if "actions" in row["cpu"] else "–"
            cells = [level, bot, f"{row['turns_per_s']:.1f}", " / ".join(map(str, row["passes"])), row["p50_ms"],
                     row["p99_ms"], row["errors"], f"{rasa:.1f}" + (f" ({split})" if split else ""), actions,
                     f"{other:.2f}", f"{row['client']:.1f}",
                     (f"**{ratio:.2f}×**" if ratio else "–") if bot == "linli" else ""]
            if "base" in bots:
                cells.append(f"{versus_base:.2f}×" if versus_base and bot == "linli" else "")
            print("| " + " | ".join(map(str, cells)) + " |")
            summary.append({"layout": layout, "residents": level, "bot": bot, **{
                k: (round(v, 2) if isinstance(v, float) else v) for k, v in row.items() if k != "cpu"},
                "cpu_ms_per_turn": {k: round(v, 2) for k, v in row["cpu"].items()},
                "rasa_processes": [round(x, 2) for x in row["rasa_processes"]],
                "linli_over_stock": round(ratio, 3) if ratio else None,
                "linli_over_base": round(versus_base, 3) if versus_base else None})
    return summary


# -- main -----------------------------------------------------------------------------------------

async def run_layout(layout: int, opts, run_dir: Path, stock_model: Optional[Path], info: dict) -> list[dict]:
    stacks: dict[str, Stack] = {}
    passes: list[Pass] = []
    flush_redis(opts.redis)
    try:
        for bot, root in (("linli", opts.linli_root), ("base", opts.baseline_root)):
            if bot not in opts.bots:
                continue
            env, var = linli_env(layout, run_dir, opts.redis, opts.database_url if bot == "linli" else None, bot)
            if opts.tickets or opts.followers:  # the product makes its schema, then the rows go in
                subprocess.run([PYTHON, "-m", "bot.cli", "tickets", "list", "--limit", "1"], cwd=root, env=env,
                               capture_output=True, check=True, timeout=300)
                filled = prefill(env["LINLI_DATABASE_URL"], opts.tickets, opts.followers)
                print(f"prefilled {bot}'s database: {json.dumps(filled, ensure_ascii=False)}", flush=True)
                info.setdefault("prefill", {})[f"{bot}-{layout}"] = filled
            stacks[bot] = linli_stack(layout, env, run_dir, root, bot).start()
        if "stock" in opts.bots:
            stacks["stock"] = stock_stack(layout, stock_model, run_dir, opts.redis).start()
        for stack in stacks.values():
            await asyncio.to_thread(stack.wait_listening, START_TIMEOUT)
        for stack in stacks.values():
            await warm_up(stack, STOCK_SCRIPT if stack.bot == "stock" else SCRIPTS[opts.script], START_TIMEOUT)
        spy = Spy(Path(opts.py_spy), opts.py_spy_residents, opts.py_spy_rate, opts.py_spy_format) if opts.py_spy else None
        print(f"\nlayout {layout} ({LAYOUTS[layout]}) up; {uptime()}", flush=True)
        for level in opts.residents:
            for round_ in range(1, opts.rounds + 1):
                for bot in opts.bots:
                    others = [s for b, s in stacks.items() if b != bot]
                    script = STOCK_SCRIPT if bot == "stock" else SCRIPTS[opts.script]
                    done = await run_pass(stacks[bot], others, script, level, opts.seconds, round_, spy)
                    passes.append(done)
                    row = done.row()
                    print(f"  layout {layout} · {level:>3} residents · {bot:5} pass {round_}: "
                          f"{row['turns_per_s']:6.1f} turns/s  p50 {row['p50_ms']} ms  p99 {row['p99_ms']} ms  "
                          f"errors {row['errors']}  CPU ms/turn {row['cpu_ms_per_turn']} "
                          f"rasa procs {row['rasa_processes_ms_per_turn']}  client {row['client_cpu_ms_per_turn']}  "
                          f"idle stack {row['idle_stack_cpu_s']} s  load {row['load_before']}  "
                          f"conversations {row['conversations']}"
                          + ("  (fewer than 2 per resident: mix leans to first turns)" if row["mix_biased"] else ""),
                          flush=True)
                    with (RESULTS / "compare.jsonl").open("a") as sink:
                        sink.write(json.dumps({"kind": "pass", "run": run_dir.name, "script": opts.script,
                                               "tickets": opts.tickets, "followers": opts.followers,
                                               "commit": info["commit"], "linli_root": info["linli_root"], **row}, ensure_ascii=False) + "\n")
    finally:
        for stack in stacks.values():
            stack.stop()
        flush_redis(opts.redis)
    return print_table(layout, opts.residents, passes, [b for b in opts.bots if b in stacks])


def parse_args(argv: Optional[list[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0], epilog=__doc__.split("\n", 2)[2],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--layouts", type=int, nargs="+", choices=sorted(LAYOUTS), default=[1, 2])
    parser.add_argument("--residents", type=int, nargs="+", default=[1, 10, 50], help="residents at once, per level")
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each pass")
    parser.add_argument("--rounds", type=int, default=2, help="stock/Linli pass pairs per level")
    parser.add_argument("--script", choices=sorted(SCRIPTS), default="linli", help="Linli's conversation")
    parser.add_argument("--bots", nargs="+", choices=["stock", "linli", "base"], default=["stock", "linli"],
                        help="base: Linli from --baseline-root, alternating with the others")
    parser.add_argument("--baseline-root", type=lambda path: Path(path).resolve(),
                        help="another Linli tree (e.g. `git archive 5883584`), run as bot 'base'")
    parser.add_argument("--tickets", type=int, default=0, help="prefill Linli's database with this many tickets")
    parser.add_argument("--followers", type=int, default=0, help="prefill: followers of the one open leak at 5号楼")
    parser.add_argument("--redis", default=os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/7"),
                        help="Redis db for layout 2 (flushed before and after each layout: use one of your own)")
    parser.add_argument("--linli-root", type=lambda path: Path(path).resolve(), default=ROOT,
                        help="the Linli tree to run (default this one; e.g. an older commit from git archive)")
    parser.add_argument("--database-url", help="Linli's database (default: a fresh SQLite file per layout)")
    parser.add_argument("--py-spy", metavar="DIR", help="record py-spy profiles of Linli's Rasa and action server")
    parser.add_argument("--py-spy-residents", type=int, nargs="+", default=[50], help="levels to profile")
    parser.add_argument("--py-spy-rate", type=int, default=100, help="samples per second")
    parser.add_argument("--py-spy-format", choices=["flamegraph", "speedscope", "raw"], default="flamegraph")
    opts = parser.parse_args(argv)
    if opts.seconds <= 0 or opts.seconds > 600 or opts.rounds < 1 or opts.rounds > 10:
        parser.error("--seconds must be in (0, 600] and --rounds in [1, 10]")
    if any(r < 1 or r > 500 for r in opts.residents):
        parser.error("--residents must be between 1 and 500")
    if "base" in opts.bots and not opts.baseline_root:
        parser.error("--bots base needs --baseline-root")
    if opts.database_url and len(opts.layouts) > 1 and (opts.tickets or opts.followers):
        parser.error("--database-url with a prefill takes one layout at a time (each layout prefills afresh)")
    return opts


def _interrupted(*_) -> None:
    raise KeyboardInterrupt


def main(argv: Optional[list[str]] = None) -> None:
    opts = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)
    RESULTS.mkdir(parents=True, exist_ok=True)
    run_dir = RESULTS / f"compare-{time.strftime('%Y%m%d-%H%M%S')}"
    run_dir.mkdir(parents=True)
    info = machine()
    info.update(load_before=uptime(), calibration_s=calibration(), script=opts.script, seconds=opts.seconds, rounds=opts.rounds,
                tickets=opts.tickets, followers=opts.followers, run_dir=str(run_dir.relative_to(ROOT)),
                linli_root=str(opts.linli_root))
    print(f"# bench/compare.py — {time.strftime('%F %T %Z')}")
    print(f"machine: {info['nproc']} CPUs ({info['cpu']}), {info['memory_gib']} GiB; Python {info['python']}, "
          f"Rasa {info['rasa']}, rasa-sdk {info['rasa_sdk']}")
    print(f"commit: {info['commit']} ({info['branch']}); single-core check: sum(range(10**7)) in "
          f"{info['calibration_s']} s CPU")
    print(f"before the run: {info['load_before']}")
    if opts.linli_root.resolve() != ROOT:
        print(f"Linli runs from {opts.linli_root} (not this tree)")
    if "base" in opts.bots:
        print(f"base: Linli from {opts.baseline_root}")
    print(f"script: Linli {opts.script} {SCRIPTS[opts.script]}; stock {STOCK_SCRIPT}")
    print(f"{opts.seconds:g} s per pass, {opts.rounds} rounds of {' / '.join(opts.bots)} per level; "
          f"residents {opts.residents}; logs in {info['run_dir']}", flush=True)
    stock_model = ensure_stock(run_dir / "stock-init.log") if "stock" in opts.bots else None
    for bot, root in (("linli", opts.linli_root), ("base", opts.baseline_root)):
        if bot in opts.bots:
            ensure_linli_model(run_dir / f"{bot}-train.log", {**base_env(), "LINLI_VAR_DIR": str(run_dir / "train")},
                               root)
    summary = []
    try:
        for layout in opts.layouts:
            summary += asyncio.run(run_layout(layout, opts, run_dir, stock_model, info))
    except KeyboardInterrupt:
        print("\ninterrupted: stacks stopped", file=sys.stderr)
        raise SystemExit(130) from None
    finally:
        for stack in STARTED:
            stack.stop()
    print(f"\nafter the run: {uptime()}")
    with (RESULTS / "compare.jsonl").open("a") as sink:
        sink.write(json.dumps({"kind": "run", **info, "after": uptime(), "summary": summary}, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
