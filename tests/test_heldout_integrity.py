"""The held-out sets stay held out: no model, runs in a few seconds.

Fails, naming the offending pairs, when a text of tests/data/*heldout*.yml (or a user turn of
tests/data/conversations_heldout.yml) is a training example of nlu/ verbatim, equal to one after
normalising punctuation, spaces, case and full-width forms, contains a training example of 8 or more
characters or is contained in one, or is a near copy of one; and when a held-out text repeats another
held-out text in any of those ways. The relations are defined in tests/nlu_corpus.py.

To fix a failure, rewrite the held-out side (a new text of the same label, written without looking at
the training data), never the training data.
"""
from __future__ import annotations

import collections
from pathlib import Path

import pytest

from tests import nlu_corpus as nc

# A conversation turn this short ("对", "602", "1单元", "算了", "确认提交") is an answer to the
# assistant's question: there are only so many ways to type it, any training set has them, and the
# conversation set measures the dialogue on them rather than the classifier. Longer turns are checked.
CONVERSATION_TURN_MIN_CHARS = 5

ENTITIES = {"community", "building", "unit", "room", "phone", "ticket_id"}


def _report(overlaps, what: str, limit: int = 60) -> str:
    kinds = collections.Counter(o.kind for o in overlaps)
    lines = [f"{len(overlaps)} {what} ({dict(kinds)}); rewrite the held-out side:"]
    lines += [f"  {o}" for o in overlaps[:limit]]
    if len(overlaps) > limit:
        lines.append(f"  … and {len(overlaps) - limit} more")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def training():
    examples = nc.training_examples()
    assert len(examples) > 500, "no training examples read from nlu/"
    return examples


@pytest.fixture(scope="module")
def heldout():
    files = nc.nlu_heldout_files()
    assert len(files) >= 1, "no held-out file in tests/data"
    return nc.heldout_examples(files)


def test_heldout_texts_are_not_training_examples(training, heldout):
    overlaps = nc.find_overlaps(heldout, training)
    assert not overlaps, _report(overlaps, "held-out texts overlap the training data")


def test_heldout_texts_do_not_repeat_each_other(heldout):
    overlaps = nc.find_overlaps(heldout, heldout, same_set=True)
    assert not overlaps, _report(overlaps, "held-out texts repeat each other")


def test_conversation_turns_are_not_training_examples(training):
    assert nc.CONVERSATIONS_FILE.exists(), "tests/data/conversations_heldout.yml is missing"
    turns = [t for t in nc.conversation_turns() if len(nc.normalise(t.text)) >= CONVERSATION_TURN_MIN_CHARS]
    assert len(turns) > 100
    overlaps = nc.find_overlaps(turns, training)
    assert not overlaps, _report(overlaps, "conversation turns overlap the training data")


def test_heldout_rows_are_labelled_like_the_training_data(training, heldout):
    intents = {e.intent for e in training}
    categories = {e.category for e in training if e.category}
    topics = {e.faq_topic for e in training if e.faq_topic}
    problems = []
    for path in nc.nlu_heldout_files():
        for row in nc.load_yaml(path):
            where = f"{path.name}: {row.get('text')!r}"
            if set(row) - {"text", "intent", "category", "faq_topic", "entities"}:
                problems.append(f"{where}: unknown keys {set(row) - {'text', 'intent', 'category', 'faq_topic', 'entities'}}")
            if row.get("intent") not in intents:
                problems.append(f"{where}: intent {row.get('intent')!r} is not trained")
            if (row.get("intent") == "report_issue") != bool(row.get("category")) or \
                    (row.get("category") and row["category"] not in categories):
                problems.append(f"{where}: category {row.get('category')!r}")
            if (row.get("intent") == "faq") != bool(row.get("faq_topic")) or \
                    (row.get("faq_topic") and row["faq_topic"] not in topics):
                problems.append(f"{where}: faq_topic {row.get('faq_topic')!r}")
            entities = row.get("entities")
            if not isinstance(entities, dict) or set(entities) - ENTITIES or \
                    not all(isinstance(v, str) for v in entities.values()):
                problems.append(f"{where}: entities {entities!r} (normalised string values of {sorted(ENTITIES)})")
    assert not problems, "\n".join(problems)


# --- the reader and the relations themselves ---------------------------------------------------

def test_training_examples_are_read_as_rasa_reads_them(tmp_path: Path):
    (tmp_path / "nlu" / "sub").mkdir(parents=True)
    (tmp_path / "nlu" / "sub" / "a.yml").write_text(
        'version: "3.1"\n'
        "nlu:\n"
        "- intent: report_issue\n"
        "  metadata:\n"
        "    category: leak\n"
        "  examples: |\n"
        "    - [5号楼](building)屋顶漏了\n"
        '    - 住[望园]{"entity": "community", "value": "望园社区"} 漏雨\n'
        "    - [六号楼](building:6)漏水  \n"
        "    not an example, Rasa skips it\n"
        "- intent: faq/hotline_12345\n"
        "  examples:\n"
        "  - text: 12345是啥\n"
        "- synonym: 望园社区\n"
        "  examples: |\n"
        "    - 望园东里\n"
        "- regex: phone\n"
        "  examples: |\n"
        "    - 1[3-9]\\d{9}\n",
        encoding="utf-8")
    (tmp_path / "nlu" / "b.yaml").write_text("nlu:\n- intent: greet\n  examples: |\n    - 你好\n", encoding="utf-8")
    (tmp_path / "nlu" / "userdict.txt").write_text("号楼 100\n", encoding="utf-8")
    got = {(e.text, e.intent, e.category, e.faq_topic) for e in nc.training_examples(tmp_path / "nlu")}
    assert got == {("5号楼屋顶漏了", "report_issue", "leak", None), ("住望园 漏雨", "report_issue", "leak", None),
                   ("六号楼漏水", "report_issue", "leak", None), ("12345是啥", "faq", None, "hotline_12345"),
                   ("你好", "greet", None, None)}


def _kinds(text: str, other: str) -> list:
    return [o.kind for o in nc.find_overlaps([nc.Example(text, "x")], [nc.Example(other, "y")])]


@pytest.mark.parametrize("text, other, kind", [
    ("应急专项维修资金怎么申请", "应急专项维修资金怎么申请", "verbatim"),
    ("ＯＫ，没问题！", "ok没问题", "normalised"),
    ("多谢多谢🙏", "多谢 多谢", "normalised"),
    ("天花板一直滴答滴答的 拿盆接了一宿", "天花板一直滴答滴答的", "contains"),
    ("应急维修资金怎么申请", "电梯坏了 应急维修资金怎么申请", "contained"),
    ("燃气灶打不着火 燃气表也不走字", "燃气灶打不着 燃气表也不走字", "near"),
    ("工单号GD202605080007 现在什么状态", "工单号GD202610150021 现在什么状态", "near"),
    ("楼下饭馆的排风机嗡嗡响一宿", "对面饭馆的排风机嗡嗡响一宿", "near"),
])
def test_overlap_relations(text, other, kind):
    assert _kinds(text, other) == [kind]


@pytest.mark.parametrize("text, other", [
    ("首华物业客服电话", "物业客服电话形同虚设"),       # a shared phrase is not a copy
    ("楼道里一股煤气味 是不是哪漏气了", "楼道里一股尿骚味"),
    ("不对", "不对不对 错了"),                          # short and contained: not 8 characters
    ("你好呀", "你好啊"),
])
def test_what_is_not_an_overlap(text, other):
    assert _kinds(text, other) == []


def test_repeats_are_reported_once_per_pair():
    texts = [nc.Example("电梯又坏了 困了人", "a", source="f1"), nc.Example("电梯又坏了，困了人！", "a", source="f2"),
             nc.Example("楼道灯不亮", "a", source="f3")]
    overlaps = nc.find_overlaps(texts, texts, same_set=True)
    assert [(o.kind, o.source, o.other_source) for o in overlaps] == [("normalised", "f1", "f2")]
