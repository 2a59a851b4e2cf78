"""Messages the assistant did not understand (没听懂的话): captured masked, labelled by staff on the
workbench, exported as Rasa training data under nlu/ (`linli nlu export`).

The dialogue's fallback records them (actions/misunderstood.py, from action_fallback_options): a
message that fell back, or the message before a resident's "不对" that the assistant answered
wrongly, with what the assistant guessed. Texts are stored with phone and room numbers masked and
the sender as a masked id, so the table is no contact list.
The export writes only labelled messages, only under nlu/, and leaves out any text that is a
held-out test example (tests/data), so the held-out figures stay honest.
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterable, Optional

import yaml
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from bot.core.db import get_engine, session_scope
from bot.core.errors import PlainUserError
from bot.core.settings import PROJECT_ROOT
from bot.privacy.masks import mask_sender, mask_text
from bot.workbench.models import MisunderstoodMessage, MisunderstoodReason

EXPORT_FILE = PROJECT_ROOT / "nlu" / "workbench_labelled.yml"
TEXT_MAX = 500
REASONS = tuple(reason.value for reason in MisunderstoodReason)
#: Intents a message can be labelled with: the domain's, less what no person says.
_NOT_LABELS = ("nlu_fallback",)


class LabelError(PlainUserError):
    pass


def record_misunderstood(channel: str, sender_id: str, text: str, guessed_intent: Optional[str],
                         guessed_category: Optional[str], confidence: Optional[float], engine=None,
                         now: Optional[datetime] = None, reason: str = "fallback",
                         message_id: Optional[str] = None) -> Optional[int]:
    """Keeps one message the assistant fell back on (``reason`` fallback) or that the resident said it
    got wrong (``corrected``), masked; returns its id (None for an empty or slash-command message:
    those are not language to learn from). A message with Rasa's ``message_id`` is kept once, however
    often it is reported (an action run again, a fallback then a "不对" about the same message)."""
    text = (text or "").strip()
    if not text or text.startswith("/") or reason not in REASONS:
        return None
    engine = engine or get_engine()
    message_id = (message_id or None) and str(message_id)[:64]
    if message_id and (known := _recorded(engine, message_id)) is not None:
        return known
    try:
        with session_scope(engine) as session:
            row = MisunderstoodMessage(at=now or datetime.now(timezone.utc), channel=str(channel)[:32],
                                       sender=mask_sender(str(sender_id))[:64], text=mask_text(text[:TEXT_MAX]),
                                       guessed_intent=(guessed_intent or None) and str(guessed_intent)[:64],
                                       guessed_category=(guessed_category or None) and str(guessed_category)[:32],
                                       confidence=float(confidence) if confidence is not None else None,
                                       reason=reason, message_id=message_id, status="new")
            session.add(row)
            session.flush()
            return row.id
    except IntegrityError:  # the same message, recorded a moment ago by another process
        known = _recorded(engine, message_id) if message_id else None
        if known is None:
            raise
        return known


def _recorded(engine, message_id: str) -> Optional[int]:
    with session_scope(engine) as session:
        return session.execute(select(MisunderstoodMessage.id)
                               .where(MisunderstoodMessage.message_id == message_id)).scalar()


def domain_intents(root: Path = PROJECT_ROOT) -> list[str]:
    """The intents a person's message can have: the domain's, no ``EXTERNAL_…`` and no fallback."""
    found: list[str] = []
    for path in sorted((root / "dialogs" / "domain").glob("*.yml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for intent in raw.get("intents") or ():
            name = intent if isinstance(intent, str) else next(iter(intent))
            if not name.startswith("EXTERNAL_") and name not in _NOT_LABELS and name not in found:
                found.append(name)
    return found


def faq_topics(root: Path = PROJECT_ROOT) -> list[str]:
    raw = yaml.safe_load((root / "dialogs" / "domain" / "faq.yml").read_text(encoding="utf-8")) or {}
    return sorted(key.split("/", 1)[1] for key in (raw.get("responses") or {}) if key.startswith("utter_faq/"))


def listing(engine, status: Optional[str] = None, limit: int = 100) -> list[MisunderstoodMessage]:
    query = select(MisunderstoodMessage).order_by(MisunderstoodMessage.at.desc()).limit(limit)
    if status:
        query = query.where(MisunderstoodMessage.status == status)
    with session_scope(engine) as session:
        return list(session.execute(query).scalars())


def counts(engine) -> dict:
    with session_scope(engine) as session:
        return dict(session.execute(select(MisunderstoodMessage.status, func.count())
                                    .group_by(MisunderstoodMessage.status)).all())


def label(engine, message_id: int, intent: str, category: Optional[str], actor: str, now: datetime,
          categories: Iterable[str], intents: Iterable[str], topics: Iterable[str]) -> None:
    """Staff's label: an intent of the domain (``faq/<topic>`` for a question), a category for a
    complaint, or ``ignore``."""
    intent = (intent or "").strip()
    values: dict
    if intent == "ignore":
        values = {"status": "ignored", "label_intent": None, "label_category": None}
    else:
        base, _, topic = intent.partition("/")
        if base not in intents or (base == "faq" and topic not in topics) or (base != "faq" and topic):
            raise LabelError("请选一个意图。")
        if base == "report_issue":
            if category is None or category not in categories:
                raise LabelError("报事报修要选一个问题类别。")
        else:
            category = None
        values = {"status": "labelled", "label_intent": intent, "label_category": category}
    with session_scope(engine) as session:
        changed = session.execute(update(MisunderstoodMessage).where(MisunderstoodMessage.id == int(message_id))
                                  .values(labelled_by=actor, labelled_at=now, **values)).rowcount
    if not changed:
        raise LabelError(f"没有编号为 {message_id} 的消息。")


def _heldout_texts(root: Path) -> set[str]:
    """Every held-out test message under tests/data (lists of {text: …}, or Rasa NLU files), as
    written and as masked (the table keeps masked texts)."""
    texts: set[str] = set()
    for path in sorted((root / "tests" / "data").glob("*.yml")):
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        if isinstance(raw, list):
            found = [str(item.get("text") or "") for item in raw if isinstance(item, dict)]
        else:
            found = []
            for block in (raw or {}).get("nlu") or ():
                for line in str(block.get("examples") or "").splitlines():
                    line = re.sub(r"^\s*-\s*", "", line).strip()
                    found.append(re.sub(r"\[([^\]]*)\]\([^)]*\)|\[([^\]]*)\]\{[^}]*\}",
                                        lambda m: m.group(1) or m.group(2), line))
        for text in found:
            text = " ".join(text.split())
            if text:
                texts |= {text, " ".join(mask_text(text).split())}
    return texts


def export(engine, path: Path = EXPORT_FILE, root: Path = PROJECT_ROOT, now: Optional[datetime] = None
           ) -> tuple[Path, int, int]:
    """Writes every labelled (and previously exported) message as training data; returns (file, examples,
    left out because they are held-out test examples). The file is rewritten whole, so it always
    matches the table."""
    path = Path(path).resolve()
    nlu, tests = (root / "nlu").resolve(), (root / "tests").resolve()
    if nlu not in path.parents or tests in path.parents or path.suffix not in (".yml", ".yaml"):
        raise LabelError(f"训练数据只能写到 {nlu} 下的 .yml 文件里（绝不写到 tests/ 的留出测试集）。")
    heldout = _heldout_texts(root)
    with session_scope(engine) as session:
        rows = session.execute(select(MisunderstoodMessage.id, MisunderstoodMessage.text,
                                      MisunderstoodMessage.label_intent, MisunderstoodMessage.label_category)
                               .where(MisunderstoodMessage.status.in_(("labelled", "exported")))
                               .order_by(MisunderstoodMessage.id)).all()
    blocks: dict = {}
    skipped, exported = 0, []
    for message_id, text, intent, category in rows:
        text = " ".join(text.split())
        if text in heldout:
            skipped += 1
            continue
        blocks.setdefault((intent, category), [])
        if text not in blocks[(intent, category)]:
            blocks[(intent, category)].append(text)
        exported.append(message_id)
    lines = ['version: "3.1"', "# Written by `linli nlu export` from messages staff labelled on the workbench.",
             "# Do not edit by hand: the next export rewrites this file from the table.", "nlu:"]
    for (intent, category), texts in sorted(blocks.items(), key=lambda item: (item[0][0], item[0][1] or "")):
        lines.append(f"- intent: {intent}")
        if category:
            lines += ["  metadata:", f"    category: {category}"]
        lines.append("  examples: |")
        lines += [f"    - {text}" for text in texts]
    path.parent.mkdir(parents=True, exist_ok=True)
    if exported:
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    elif path.exists():
        path.unlink()  # nothing labelled any more: an empty intent list would break training
    with session_scope(engine) as session:
        if exported:
            session.execute(update(MisunderstoodMessage).where(MisunderstoodMessage.id.in_(exported))
                            .values(status="exported", exported_at=now or datetime.now(timezone.utc)))
    return path, len(exported), skipped
