"""Starting Linli's processes: training, the action server and the Rasa server, wired from settings.

Rasa reads its stores and action endpoint from an endpoints file; Linli writes that file from
``LINLI_*`` settings so there is one source of configuration: with ``LINLI_REDIS_URL`` set, the
tracker and lock stores live in Redis and several Rasa processes can serve one street.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Literal, overload

import yaml

from bot.config.policy import get_policy
from bot.core.redis import rasa_store_options
from bot.core.settings import PROJECT_ROOT, Settings, credentials_path, get_settings

MODEL_NAME = "linli"
#: Rasa's Redis tracker store, saving conversations with phone numbers masked (its docstring).
PRIVATE_TRACKER_STORE = "bot.runtime.tracker_store.PrivateRedisTrackerStore"
TRAINING_INPUTS = ("config.yml", "nlu", "dialogs")


def model_path(settings: Settings) -> Path:
    return settings.model_dir / f"{MODEL_NAME}.tar.gz"


def model_is_stale(settings: Settings) -> bool:
    """True when there is no model or any training input changed after it was built."""
    path = model_path(settings)
    if not path.exists():
        return True
    built = path.stat().st_mtime
    for name in TRAINING_INPUTS:
        root = PROJECT_ROOT / name
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        if any(p.stat().st_mtime > built for p in files):
            return True
    return False


def train(settings: Settings | None = None, force: bool = False) -> Path:
    settings = settings or get_settings()
    path = model_path(settings)
    if force or model_is_stale(settings):
        settings.model_dir.mkdir(parents=True, exist_ok=True)
        rasa_command("train", "--config", "config.yml", "--domain", "dialogs/domain",
              "--data", "nlu", "dialogs", "--out", str(settings.model_dir),
              "--fixed-model-name", MODEL_NAME, check=True)
    return path


def _redis_store(url: str, kind: str) -> dict:
    return {"type": "redis", **rasa_store_options(url), "key_prefix": f"linli{kind}"}


def write_endpoints(settings: Settings | None = None) -> Path:
    """Rasa's endpoints file, derived from settings (never edited by hand)."""
    settings = settings or get_settings()
    endpoints: dict = {"action_endpoint": {"url": f"http://127.0.0.1:{settings.action_port}/webhook"}}
    if settings.redis_url:
        endpoints["tracker_store"] = {**_redis_store(settings.redis_url, "tracker"), "type": PRIVATE_TRACKER_STORE,
                                      "record_exp": int(get_policy().tracker_retention.total_seconds())}
        endpoints["lock_store"] = _redis_store(settings.redis_url, "lock")
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    path = settings.var_dir / f"endpoints-{settings.rasa_port}.yml"
    path.write_text(yaml.safe_dump(endpoints, allow_unicode=True))
    return path


#: Rasa's own channels that take the sender (and the REST one the channel name) from the body.
STOCK_CHANNELS_TRUSTING_THE_BODY = ("rest", "callback", "socketio", "rasa", "cmdline")
#: Largest request body Sanic reads at all (Telegram updates are the largest honest ones).
MAX_REQUEST_BYTES = 1024 * 1024


@overload
def rasa_command(*args: str, check: bool = ..., background: Literal[True], **popen: Any) -> subprocess.Popen: ...
@overload
def rasa_command(*args: str, check: bool = ..., background: Literal[False] = ...,
                 **popen: Any) -> subprocess.CompletedProcess: ...


def rasa_command(*args: str, check: bool = False, background: bool = False,
                 **popen: Any) -> subprocess.CompletedProcess | subprocess.Popen:
    command = [sys.executable, "-m", "bot.runtime.rasa_server", *args]
    if background:
        return subprocess.Popen(command, cwd=PROJECT_ROOT, **popen)
    return subprocess.run(command, cwd=PROJECT_ROOT, check=check, **popen)


def start_action_server(settings: Settings, workers: int = 1, **popen) -> subprocess.Popen:
    """The action server, with as many Sanic workers as the Rasa server has: one action-server process
    would otherwise be the queue every Rasa worker waits on. Actions keep no state of their own
    between calls (SQL and Redis hold it), so any worker can serve any conversation."""
    from bot.core.db import init_db

    init_db()
    env = {**dict(popen.pop("env", os.environ)), "ACTION_SERVER_SANIC_WORKERS": str(max(1, workers)),
           # The action server trusts the tracker it is sent: only this machine's Rasa may reach it.
           "SANIC_HOST": "127.0.0.1"}
    return subprocess.Popen([sys.executable, "-m", "bot.runtime.action_server", "--actions", "actions",
                             "--port", str(settings.action_port)], cwd=PROJECT_ROOT, env=env, **popen)


def start_rasa_server(settings: Settings, workers: int = 1, **popen) -> subprocess.Popen:
    env = dict(popen.pop("env", os.environ))
    # Oversized bodies are refused before they are read; request lines (WeChat's signatures are in
    # the query) are never logged.
    env.update(SANIC_REQUEST_MAX_SIZE=str(MAX_REQUEST_BYTES), SANIC_ACCESS_LOG="False")
    if workers > 1:
        if not settings.redis_url:
            raise SystemExit("More than one Rasa worker needs LINLI_REDIS_URL (a shared lock store).")
        env["SANIC_WORKERS"] = str(workers)
    args = ["run", "--model", str(model_path(settings)), "--enable-api",
            "--interface", settings.rasa_host,
            "--port", str(settings.rasa_port), "--endpoints", str(write_endpoints(settings)),
            "--credentials", str(credentials_path(settings))]
    if settings.api_token:
        args += ["--auth-token", settings.api_token]
    return rasa_command(*args, background=True, env=env, **popen)


def start_scheduler(**popen) -> subprocess.Popen:
    """The scheduler process (follow-ups, deadline watch, nudges, digest). Every ``linli run`` starts
    one; with Redis they share a lease and one of them runs the jobs."""
    return subprocess.Popen([sys.executable, "-m", "bot.runtime.scheduler"], cwd=PROJECT_ROOT, **popen)


def wait_for_port(port: int, timeout: float, process: subprocess.Popen | None = None) -> None:
    """Blocks until something listens on 127.0.0.1:port; fails fast if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"process exited with code {process.returncode} before port {port} opened")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.25)
    raise TimeoutError(f"nothing listened on port {port} within {timeout:.0f} s")
