"""``linli console`` (serve the workbench, issue a sign-in link) and ``linli nlu export``."""
from __future__ import annotations

import argparse
import sys


def register(subparsers) -> None:
    console = subparsers.add_parser("console", help="the workbench (web pages for staff): serve it, or print a sign-in link")
    actions = console.add_subparsers(dest="console_action")
    serve = actions.add_parser("serve", help="serve the workbench (the default)")
    serve.add_argument("--host", help="address to listen on (default LINLI_CONSOLE_HOST or 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default LINLI_CONSOLE_PORT or 5080)")
    link = actions.add_parser("link", help="print a one-time sign-in link for a staff member")
    link.add_argument("who", help="CHANNEL:ID (e.g. wecom:wangyuan-office) or their name on the staff roster")
    console.set_defaults(func=_cmd_console, console_action=None, host=None, port=None)

    nlu = subparsers.add_parser("nlu", help="training data from the workbench")
    nlu_actions = nlu.add_subparsers(dest="nlu_action", required=True)
    export = nlu_actions.add_parser("export", help="write messages labelled on the workbench as training data under nlu/")
    export.add_argument("--out", help="the file (default nlu/workbench_labelled.yml; must be under nlu/)")
    export.set_defaults(func=_cmd_nlu_export)


def _cmd_console(args: argparse.Namespace) -> int:
    if args.console_action == "link":
        return _link(args.who)
    from bot.workbench.server import serve

    serve(host=args.host, port=args.port)
    return 0


def _link(who: str) -> int:
    from datetime import datetime, timezone

    from bot.core.db import get_engine
    from bot.workbench import auth
    from bot.workbench.config import get_config
    from bot.workbench.models import init_tables

    engine = get_engine()
    init_tables(engine)
    try:
        member = auth.find_staff(who, engine)
        url = auth.issue_link(member.channel, member.id, engine, datetime.now(timezone.utc))
    except auth.SignInError as error:
        print(error.user_message, file=sys.stderr)
        return 1
    minutes = get_config().link_valid_minutes
    print(f"{member.name or member.id} 的登录链接（{minutes:g}分钟内有效，只能用一次）：", file=sys.stderr)
    print(url)
    return 0


def _cmd_nlu_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.core.db import get_engine
    from bot.workbench import misunderstood
    from bot.workbench.models import init_tables

    engine = get_engine()
    init_tables(engine)
    try:
        path, written, heldout = misunderstood.export(engine, Path(args.out) if args.out else misunderstood.EXPORT_FILE)
    except misunderstood.LabelError as error:
        print(error.user_message, file=sys.stderr)
        return 1
    print(f"已写入 {written} 条训练样例：{path}" + (f"（{heldout} 条与留出测试集相同，未写入）" if heldout else ""))
    if written:
        print("运行 linli train 重新训练后生效。")
    return 0
