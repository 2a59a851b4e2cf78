"""A real Linli stack for tests: action server and Rasa server as separate processes on free ports.

Each stack gets its own SQLite database and var folder, so tests can read the tickets a conversation
created; `LINLI_*` overrides select Redis or PostgreSQL.
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot.core.settings import PROJECT_ROOT, Settings
from bot.runtime import processes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Stack:
    env: dict
    settings: Settings
    processes: list = field(default_factory=list)
    logs: list = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.settings.rasa_port}"

    def say(self, sender: str, text: str, metadata: dict | None = None) -> list[dict]:
        """One resident turn through the REST channel; returns the bot's messages."""
        payload = {"sender": sender, "message": text}
        if metadata:
            payload["metadata"] = metadata
        response = httpx.post(f"{self.url}/webhooks/rest/webhook", json=payload, timeout=60)
        response.raise_for_status()
        return response.json()

    def texts(self, sender: str, text: str, metadata: dict | None = None) -> str:
        return "\n".join(m.get("text", "") for m in self.say(sender, text, metadata))

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()


def start_stack(tmp: Path, **overrides: str) -> Stack:
    env = {**os.environ,
           "LINLI_VAR_DIR": str(tmp),
           "LINLI_DATABASE_URL": f"sqlite:///{tmp / 'linli.db'}",
           "LINLI_RASA_PORT": str(free_port()),
           "LINLI_ACTION_PORT": str(free_port()),
           # A test stack: this machine only, Linli's REST channel on, and its conversations named
           # as the tests name them (production prefixes them "rest:"; tests/security runs that way).
           "LINLI_RASA_HOST": "127.0.0.1",
           "LINLI_REST": "on",
           "LINLI_REST_SENDER_PREFIX": "",
           **{f"LINLI_{k.upper()}": v for k, v in overrides.items()}}
    old = dict(os.environ)
    os.environ.update(env)
    try:
        settings = Settings.from_env()
        stack = Stack(env=env, settings=settings)
        if processes.model_is_stale(settings):
            raise RuntimeError("The model is missing or stale: run `linli train` (./dev test does).")
        logs = [open(tmp / name, "wb") for name in ("actions.log", "rasa.log")]
        stack.logs = [tmp / "actions.log", tmp / "rasa.log"]
        stack.processes.append(processes.start_action_server(settings, env=env, stdout=logs[0],
                                                           stderr=subprocess.STDOUT))
        stack.processes.append(processes.start_rasa_server(settings, env=env, stdout=logs[1],
                                                         stderr=subprocess.STDOUT))
    finally:
        os.environ.clear()
        os.environ.update(old)
    try:
        processes.wait_for_port(settings.action_port, 120, stack.processes[0])
        wait_for_model(stack, timeout=240)
    except Exception as error:
        stack.stop()
        raise RuntimeError("Linli stack did not start:\n" + "\n".join(
            p.read_text(errors="replace")[-3000:] for p in stack.logs)) from error
    return stack


def response_text(name: str, **values: str) -> str:
    """What the domain's response ``name`` says (its one variation, ``{placeholders}`` filled): a
    reply is compared with this to show it is that response, and not merely some text."""
    import yaml

    found = [variations for path in sorted((PROJECT_ROOT / "dialogs" / "domain").glob("*.yml"))
             for key, variations in ((yaml.safe_load(path.read_text(encoding="utf-8")) or {})
                                     .get("responses") or {}).items() if key == name]
    assert len(found) == 1 and len(found[0]) == 1, f"{name}: expected one response with one variation"
    return found[0][0]["text"].format(**values)


def ticket_id_in(text: str) -> str:
    """The ticket number Linli quoted in a reply (the test fails, saying so, if there is none)."""
    match = re.search(r"GD\d{12}", text)
    assert match, f"no ticket id in reply: {text}"
    return match.group(0)


def wait_for_model(stack: Stack, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in stack.processes):
            raise RuntimeError("a Linli process exited during start-up")
        try:
            status = httpx.get(f"{stack.url}/status", params={"token": stack.settings.api_token or ""},
                               timeout=2).json()
            if status.get("model_file"):
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.5)
    raise TimeoutError("Rasa did not load the model in time")


__all__ = ["Stack", "start_stack", "free_port", "response_text", "ticket_id_in", "PROJECT_ROOT"]
