"""Linli's NLU training examples read the way Rasa reads them, the held-out sets, and the overlap
relations between them. No Rasa import and no model: used by tests/test_heldout_integrity.py (fast)
and bench/nlu_baseline.py.

Training examples: every ``*.yml``/``*.yaml`` file under ``nlu/`` with an ``nlu:`` list; each item with
an ``intent`` and ``examples`` is read as Rasa 3.6's RasaYAMLReader reads it
(rasa/shared/nlu/training_data/formats/rasa_yaml.py): a multi-line ``examples: |`` block gives one
example per line starting with ``-`` (the dash dropped, then stripped of ``\\n\\r `` like Rasa's
STRIP_SYMBOLS; other lines are skipped, as Rasa skips them with a warning); a list block gives the
``text`` of each item. Entity annotations ``[text](entity)``, ``[text](entity:value)``,
``[text]{"entity": …}`` and ``[text][{…}, {…}]`` are reduced to their text with Rasa's own
ENTITY_REGEX (rasa/shared/nlu/training_data/entities_parser.py). ``faq/<topic>`` is intent ``faq``
with FAQ topic ``<topic>`` (a retrieval intent); an intent-level ``metadata: {category: …}`` is the
complaint category CategoryClassifier trains on (bot/nlu/components.py).

Overlap relations (how a held-out text may leak from training, or repeat in another held-out text).
Texts are compared in two normal forms:

- ``normalise``: Unicode NFKC (full-width letters, digits and punctuation become ASCII), case
  folded, and every character that is not a letter or a digit (punctuation, symbols and emoji,
  spaces, marks, control and format characters) removed.
- ``skeleton``: ``normalise`` with the digits removed too ("西园9号楼602 漏雨" → "西园号楼漏雨"), so
  a copy with other numbers still counts as a copy.

For a held-out text H and a reference text R (a training example, or another held-out text):

1. ``verbatim``: H == R (after the strip Rasa applies to training lines).
2. ``normalised``: normalise(H) == normalise(R).
3. ``contains``: normalise(R) has at least 8 characters and is a substring of normalise(H);
   ``contained``: the same with H and R swapped.
4. ``near``: a near copy, on skeletons S(H), S(R):
   - ``difflib.SequenceMatcher(None, S(H), S(R), autojunk=False).ratio() >= 0.85`` with both
     skeletons at least 4 characters long; or
   - near containment: the shorter skeleton has at least 8 characters and is found in the longer
     one with at most 2 of its characters missing and at most 2 extra characters inside the stretch
     where it is found (SequenceMatcher's matching blocks: unmatched characters of the shorter ≤ 2,
     span of the blocks in the longer ≤ matched characters + 2).

The relations are checked in that order and a pair is reported once, under the first that holds.
Candidate pairs are found with a sparse product of character-occurrence vectors (an upper bound on
the characters two texts can have in common), so only plausible pairs reach difflib.
"""
from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, List, Optional, Sequence

import numpy as np
import yaml
from scipy.sparse import csr_matrix

ROOT = Path(__file__).resolve().parent.parent
NLU_DIR = ROOT / "nlu"
DATA_DIR = Path(__file__).resolve().parent / "data"
CONVERSATIONS_FILE = DATA_DIR / "conversations_heldout.yml"

NEAR_RATIO = 0.85
NEAR_MIN_CHARS = 4
CONTAIN_MIN_CHARS = 8
NEAR_CONTAIN_SLACK = 2
NEAR_CONTAIN_SHARE = 0.8

# Rasa 3.6's ENTITY_REGEX (rasa/shared/nlu/training_data/entities_parser.py) and STRIP_SYMBOLS.
ENTITY_REGEX = re.compile(
    r"\[(?P<entity_text>[^\]]+?)\](\((?P<entity>[^:)]+?)(?:\:(?P<value>[^)]+))?\)|\{(?P<entity_dict>[^}]+?)\}|\[(?P<list_entity_dicts>.*?)\])"  # noqa: E501
)
STRIP_SYMBOLS = "\n\r "
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(path: Path):
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_LOADER)


@dataclass(frozen=True)
class Example:
    text: str
    intent: str
    category: Optional[str] = None
    faq_topic: Optional[str] = None
    source: str = ""          # where it comes from, for messages: file (and conversation id / turn)


def replace_entities(example: str) -> str:
    """A training line with its entity annotations reduced to their text, as Rasa does."""
    return ENTITY_REGEX.sub(lambda m: m.group("entity_text"), example)


def _example_lines(block) -> Iterable[str]:
    if isinstance(block, str):
        for line in block.splitlines():
            if line.startswith("-"):
                yield line[1:].strip(STRIP_SYMBOLS)
    elif isinstance(block, list):
        for item in block:
            if item:
                yield str(item.get("text", "")).strip(STRIP_SYMBOLS)


def training_examples(nlu_dir: Path = NLU_DIR) -> List[Example]:
    """Every intent example of every NLU YAML file under ``nlu_dir``, as Rasa trains on it."""
    examples: List[Example] = []
    for path in sorted(p for p in nlu_dir.rglob("*") if p.suffix in (".yml", ".yaml") and p.is_file()):
        content = load_yaml(path) or {}
        if not isinstance(content, dict):
            continue
        for item in content.get("nlu") or []:
            if not isinstance(item, dict) or not item.get("intent"):
                continue
            name = str(item["intent"])
            intent, _, topic = name.partition("/")
            category = (item.get("metadata") or {}).get("category") if intent == "report_issue" else None
            for line in _example_lines(item.get("examples", "")):
                text = replace_entities(line)
                if text:
                    examples.append(Example(text, intent, category, topic or None,
                                            str(path.relative_to(nlu_dir.parent))))
    return examples


def nlu_heldout_files(data_dir: Path = DATA_DIR) -> List[Path]:
    """The single-message held-out files (``*heldout*.yml`` but the conversation set)."""
    return sorted(p for p in data_dir.glob("*heldout*.yml") if not p.name.startswith("conversations"))


def heldout_examples(paths: Optional[Sequence[Path]] = None) -> List[Example]:
    examples = []
    for path in paths if paths is not None else nlu_heldout_files():
        for row in load_yaml(path) or []:
            examples.append(Example(str(row["text"]), row["intent"], row.get("category"),
                                    row.get("faq_topic"), path.name))
    return examples


def conversation_turns(path: Path = CONVERSATIONS_FILE) -> List[Example]:
    """Each user turn of the multi-turn held-out set, as an unlabelled message."""
    turns = []
    if not path.exists():
        return turns
    for conversation in load_yaml(path) or []:
        for i, turn in enumerate(conversation.get("turns") or [], 1):
            turns.append(Example(str(turn), "", source=f"{path.name}:{conversation.get('id')}#{i}"))
    return turns


def normalise(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(c for c in text if unicodedata.category(c)[0] in "LN")


def skeleton(text: str) -> str:
    return "".join(c for c in normalise(text) if unicodedata.category(c)[0] != "N")


@dataclass(frozen=True)
class Overlap:
    kind: str             # verbatim | normalised | contains | contained | near
    text: str             # the held-out text
    source: str
    other: str            # the training (or other held-out) text
    other_source: str
    detail: str = ""

    def __str__(self) -> str:
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.kind}{extra}: [{self.source}] {self.text!r} ~ [{self.other_source}] {self.other!r}"


def _occurrence_matrix(texts: Sequence[str], vocab: dict) -> csr_matrix:
    """One column per (character, k-th occurrence): the product of two rows is the size of the
    multiset intersection of their characters, an upper bound on what difflib can match."""
    rows, cols = [], []
    for i, text in enumerate(texts):
        seen: dict = {}
        for c in text:
            k = seen[c] = seen.get(c, 0) + 1
            cols.append(vocab.setdefault((c, k), len(vocab)))
            rows.append(i)
    return csr_matrix((np.ones(len(rows), dtype=np.int32), (rows, cols)), shape=(len(texts), max(len(vocab), 1)))


def _pairs(a: Sequence[str], b: Sequence[str], upper_ok) -> Iterable[tuple]:
    """Index pairs (i, j) whose multiset intersection size passes ``upper_ok(shared, len_a, len_b)``."""
    vocab: dict = {}
    ma, mb = _occurrence_matrix(a, vocab), None
    mb = _occurrence_matrix(b, vocab)
    ma.resize((ma.shape[0], len(vocab) or 1))
    mb.resize((mb.shape[0], len(vocab) or 1))
    la = np.array([len(t) for t in a])
    lb = np.array([len(t) for t in b])
    for start in range(0, len(a), 256):
        block = (ma[start:start + 256] @ mb.T).tocoo()
        i, j, shared = block.row + start, block.col, block.data
        keep = upper_ok(shared, la[i], lb[j])
        yield from zip(i[keep].tolist(), j[keep].tolist())


def _near(sa: str, sb: str) -> Optional[str]:
    if len(sa) >= NEAR_MIN_CHARS and len(sb) >= NEAR_MIN_CHARS:
        matcher = difflib.SequenceMatcher(None, sa, sb, autojunk=False)
        if 2 * min(len(sa), len(sb)) / (len(sa) + len(sb)) >= NEAR_RATIO and matcher.ratio() >= NEAR_RATIO:
            return f"ratio {matcher.ratio():.2f}"
    short, long_ = (sa, sb) if len(sa) <= len(sb) else (sb, sa)
    if len(short) >= CONTAIN_MIN_CHARS:
        blocks = [m for m in difflib.SequenceMatcher(None, short, long_, autojunk=False).get_matching_blocks() if m.size]
        if blocks:
            matched = sum(m.size for m in blocks)
            span = blocks[-1].b + blocks[-1].size - blocks[0].b
            if matched >= NEAR_CONTAIN_SHARE * len(short) and span - matched <= NEAR_CONTAIN_SLACK:
                return f"near containment, {len(short) - matched} of {len(short)} missing, {span - matched} extra"
    return None


def find_overlaps(queries: Sequence[Example], references: Sequence[Example], *,
                  same_set: bool = False) -> List[Overlap]:
    """Every (query, reference) pair in one of the overlap relations, under the first that holds.
    ``same_set``: queries and references are the same list; each unordered pair is checked once."""
    found: dict = {}

    def add(i: int, j: int, kind: str, detail: str = "") -> None:
        if same_set and i == j:
            return
        key = (min(i, j), max(i, j)) if same_set else (i, j)
        if key not in found:
            q, r = (queries[key[0]], references[key[1]]) if same_set else (queries[i], references[j])
            found[key] = Overlap(kind, q.text, q.source, r.text, r.source, detail)

    q_norm = [normalise(e.text) for e in queries]
    r_norm = [normalise(e.text) for e in references]
    q_skel = [skeleton(e.text) for e in queries]
    r_skel = [skeleton(e.text) for e in references]

    by_text: dict = {}
    by_norm: dict = {}
    for j, e in enumerate(references):
        by_text.setdefault(e.text.strip(STRIP_SYMBOLS), []).append(j)
        if r_norm[j]:
            by_norm.setdefault(r_norm[j], []).append(j)
    for i, e in enumerate(queries):
        for j in by_text.get(e.text.strip(STRIP_SYMBOLS), []):
            add(i, j, "verbatim")
    for i in range(len(queries)):
        for j in by_norm.get(q_norm[i], []):
            add(i, j, "normalised")

    # Containment of normalised texts: the shorter (>= 8 characters) is all in the longer.
    def contain_ok(shared, la, lb):
        short = np.minimum(la, lb)
        return (short >= CONTAIN_MIN_CHARS) & (shared >= short)

    for i, j in _pairs(q_norm, r_norm, contain_ok):
        if len(r_norm[j]) <= len(q_norm[i]) and r_norm[j] in q_norm[i]:
            add(i, j, "contains", f"{len(r_norm[j])} characters")
        elif len(q_norm[i]) < len(r_norm[j]) and q_norm[i] in r_norm[j]:
            add(i, j, "contained", f"{len(q_norm[i])} characters")

    def near_ok(shared, la, lb):
        short = np.minimum(la, lb)
        by_ratio = (short >= NEAR_MIN_CHARS) & (2 * shared >= NEAR_RATIO * (la + lb))
        by_containment = (short >= CONTAIN_MIN_CHARS) & (shared >= NEAR_CONTAIN_SHARE * short)
        return by_ratio | by_containment

    for i, j in _pairs(q_skel, r_skel, near_ok):
        key = (min(i, j), max(i, j)) if same_set else (i, j)
        if key in found or (same_set and i == j):
            continue
        detail = _near(q_skel[i], r_skel[j])
        if detail:
            add(i, j, "near", detail)
    return sorted(found.values(), key=lambda o: (o.source, o.text, o.other_source, o.other))
