"""A baseline for Linli's NLU: character n-gram TF-IDF + LinearSVC, side by side with Linli's model.

The baseline is trained on exactly the examples Rasa trains on (every intent example under nlu/,
read as Rasa reads it: tests/nlu_corpus.py) — three classifiers, as in Linli's pipeline:

- intent: all examples (``faq/<topic>`` counts as intent ``faq``, as for Rasa's intent classifiers);
- complaint category: the ``report_issue`` examples labelled by their intent-level
  ``metadata: {category: …}`` (what CategoryClassifier in bot/nlu/components.py trains on);
- FAQ topic: the ``faq`` examples by topic (what FaqSelector trains on).

Each is ``TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4))`` + ``LinearSVC()`` with
scikit-learn's defaults otherwise. Both models are scored on the held-out files by the same code,
tests/test_nlu_heldout.py's ``evaluate``: intent accuracy over all messages; category accuracy over
the messages labelled with a category, a category counting only when the intent predicted is
``report_issue`` (Linli gives a category only then, and so does the baseline here); FAQ accuracy over
the ``faq`` messages, right when the intent is ``faq`` and the topic the labelled one; entity-value
F1 for Linli only (the baseline extracts no entities). Linli's model is loaded through
``bot.cli.serve.Parser`` (which trains it first if a training input changed, as ``linli parse`` does).

No network; stops by itself (about a minute on two cores, most of it loading Linli's model).

    python bench/nlu_baseline.py                    # the table, all held-out files
    python bench/nlu_baseline.py --baseline-only    # without loading Linli's model
    python bench/nlu_baseline.py --files tests/data/nlu_heldout.yml --json results/baseline.json
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import nlu_corpus  # noqa: E402
from tests.test_nlu_heldout import evaluate  # noqa: E402

METRICS = [("intent_accuracy", "intent accuracy"), ("category_accuracy", "category accuracy"),
           ("faq_accuracy", "FAQ-topic accuracy"), ("entity_f1", "entity-value F1")]


def make_classifier():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    return make_pipeline(TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4)), LinearSVC())


class Baseline:
    def __init__(self, examples: list[nlu_corpus.Example]) -> None:
        self.counts = {}
        self.intent = self._fit("intent", [(e.text, e.intent) for e in examples])
        self.category = self._fit("category", [(e.text, e.category) for e in examples
                                               if e.intent == "report_issue" and e.category])
        self.faq = self._fit("faq topic", [(e.text, e.faq_topic) for e in examples
                                           if e.intent == "faq" and e.faq_topic])

    def _fit(self, name: str, pairs: list[tuple[str, str]]):
        self.counts[name] = (len(pairs), len({label for _, label in pairs}))
        classifier = make_classifier()
        classifier.fit([t for t, _ in pairs], [label for _, label in pairs])
        return classifier

    def parse(self, text: str) -> dict:
        """The shape of ``linli parse`` output (bot.cli.parse_result)."""
        intent = {"name": str(self.intent.predict([text])[0])}
        category = None
        if intent["name"] == "report_issue":
            category = str(self.category.predict([text])[0])
        elif intent["name"] == "faq":
            intent["full_retrieval_intent"] = f"faq/{self.faq.predict([text])[0]}"
        return {"text": text, "intent": intent, "entities": [], "category": category}


def linli_parse():
    from bot.cli.serve import Parser

    parser = Parser()
    loop = asyncio.new_event_loop()
    return (lambda text: loop.run_until_complete(parser.parse(text))), loop


def counts(examples: list[dict]) -> dict:
    return {"messages": len(examples),
            "with category": sum(1 for e in examples if e.get("category")),
            "faq": sum(1 for e in examples if e.get("faq_topic"))}


def commit() -> str:
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True).stdout.strip()
        return head + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 epilog="Scores: see the module docstring. Prints a table; --json writes the figures.")
    ap.add_argument("--files", nargs="+", type=Path, default=None,
                    help="held-out files (default: tests/data/*heldout*.yml but the conversation set)")
    ap.add_argument("--baseline-only", action="store_true", help="do not load Linli's model")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    args = ap.parse_args(argv)

    files = args.files or nlu_corpus.nlu_heldout_files()
    examples = [row for path in files for row in nlu_corpus.load_yaml(path)]
    load_before = os.getloadavg()
    started = time.monotonic()

    baseline = Baseline(nlu_corpus.training_examples())
    trained = time.monotonic()
    scores = {"baseline": evaluate(baseline.parse, examples)}
    timing = {"baseline train s": trained - started, "baseline eval s": time.monotonic() - trained}

    if not args.baseline_only:
        t = time.monotonic()
        import logging
        import warnings

        warnings.filterwarnings("ignore")
        logging.disable(logging.WARNING)
        parse, loop = linli_parse()
        loaded = time.monotonic()
        try:
            scores["linli"] = evaluate(parse, examples)
        finally:
            loop.close()
        timing.update({"linli load s": loaded - t, "linli eval s": time.monotonic() - loaded})

    summary = {name: {k: s[k] for k, _ in METRICS} for name, s in scores.items()}
    summary["baseline"]["entity_f1"] = None

    def cell(v):
        return "—" if v is None else f"{v:.3f}"

    n = counts(examples)
    print(f"held-out: {', '.join(str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in files)}")
    print(f"  {n['messages']} messages, {n['with category']} with a category, {n['faq']} FAQ")
    print("training (as Rasa reads nlu/): " + ", ".join(f"{k} {c} examples / {n} labels"
                                                        for k, (c, n) in baseline.counts.items()))
    cols = ["baseline (char_wb 1-4 TF-IDF + LinearSVC)"] + (["Linli"] if "linli" in summary else [])
    table = [["metric"] + cols]
    for key, label in METRICS:
        table.append([label] + [cell(summary[name][key]) for name in ("baseline", "linli") if name in summary])
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    print()
    for k, row in enumerate(table):
        print("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths)) + " |")
        if k == 0:
            print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    print()
    print(f"commit {commit()}, {platform.node()}, {os.cpu_count()} cores, load average before "
          f"{load_before[0]:.2f} / after {os.getloadavg()[0]:.2f}; "
          + ", ".join(f"{k} {v:.1f}" for k, v in timing.items()))

    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"files": [str(p) for p in files], "counts": n, "scores": summary,
                                         "commit": commit(), "load": [load_before, os.getloadavg()],
                                         "timing": timing}, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
