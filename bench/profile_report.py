"""Where a turn's CPU goes, from py-spy recordings made by ``bench/compare.py --py-spy DIR --py-spy-format raw``.

Each recording (collapsed stacks, one ``frame;frame;… count`` per line) is turned into:
- a tree of labelled phases — every sample is attributed along its stack to the frames that match the
  rules below (Rasa: lock, tracker store, NLU component by component, policies, the action call and
  its validation, forms, saving; action server: the webhook, each action by class, the work inside
  it such as role look-ups, the duplicate search, database sessions), printed with ms of CPU per turn;
- cross-cutting suspects (a function wherever it is called: JSON-schema validation, event class
  look-up, deepcopy, logging, new connections …), inclusive ms per turn;
- an SVG flame graph beside the recording (``<file>.svg``).

Samples are turned into milliseconds with the CPU the process really used per turn over the same
pass (``/proc``, from the ``<file>.pass.json`` that compare.py writes beside each recording):
py-spy samples wall-clock time, and on an oversubscribed machine a runnable thread waiting for a
core is sampled as busy, so only the shares are taken from py-spy. Samples whose innermost frame is
the event loop waiting (uvloop's ``run_forever`` under Sanic's ``serve``) are idle and dropped.

    python bench/profile_report.py bench/results/profile/rasa-layout2-r50-p1.txt
    python bench/profile_report.py bench/results/profile/*.txt --json
"""
from __future__ import annotations

import argparse
import ast
import html
import json
import re
import sys
from collections import Counter, defaultdict
from functools import cache
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parent.parent
PROCESS = re.compile(r'^process \d+:"')
FRAME = re.compile(r"^(?P<func>.+?) \((?P<file>[^():]+?)(?::(?P<line>\d+))?\)$")
IDLE_LEAVES = ("serve (sanic/server/runners.py", "_worker (concurrent/futures/thread.py", "wait (threading.py",
               "select (selectors.py", "_run_once (asyncio/base_events.py",
               # Sanic's main process with several workers, waiting for them (os.waitpid)
               "poll (multiprocessing/popen_fork.py", "wait (multiprocessing/popen_fork.py")

# (label, frame pattern): a frame whose "function (file" matches gives the sample that label at
# that depth. Order does not matter; a frame gets the first label that matches it.
RASA_RULES = [
    ("HTTP request (Sanic)", r"^handle_request \(handle_request"),
    ("REST channel", r"^receive \(rasa/core/channels/rest\.py"),
    ("lock store", r"^lock \(rasa/core/lock_store\.py"),
    ("lock store", r"^(issue_ticket|get_or_create_lock|finish_serving|cleanup|get_lock|save_lock) \(rasa/core/lock_store\.py"),
    ("tracker store: retrieve", r"^(get_tracker|fetch_tracker_with_initial_session|fetch_tracker_and_update_session) \(rasa/core/processor\.py"),
    ("tracker store: save", r"^save_tracker \(rasa/core/processor\.py"),
    ("deserialise tracker", r"^deserialise_tracker \(rasa/core/tracker_store\.py"),
    ("serialise tracker", r"^serialise_tracker \(rasa/core/tracker_store\.py"),
    ("Redis I/O", r"\(redis/"),
    ("NLU: parse message", r"^parse_message \(rasa/core/processor\.py"),
    ("NLU: tokenizer", r"^process \(bot/nlu/tokenizer\.py"),
    ("NLU: tokenizer", r"^process \(rasa/nlu/tokenizers/"),
    ("NLU: CountVectorsFeaturizer", r"^process \(rasa/nlu/featurizers/sparse_featurizer/count_vectors_featurizer\.py"),
    ("NLU: FallbackClassifier", r"^process \(rasa/nlu/classifiers/fallback_classifier\.py"),
    ("NLU: RegexMessageHandler", r"^process \(rasa/nlu/classifiers/regex_message_handler\.py"),
    ("NLU: StaffCommandRecognizer", r"^process \(bot/nlu/commands\.py"),
    ("NLU: {cls}", r"^process \(bot/nlu/components\.py"),
    ("graph node", r"^__call__ \(rasa/engine/graph\.py"),
    ("predict next action", r"^_predict_next_with_tracker \(rasa/core/processor\.py"),
    ("policy: RulePolicy", r"^predict_action_probabilities \(rasa/core/policies/rule_policy\.py"),
    ("policy: ensemble", r"^combine_predictions_from_kwargs \(rasa/core/policies/ensemble\.py"),
    ("run action", r"^_run_action \(rasa/core/processor\.py"),
    ("run action", r"^run_action_extract_slots \(rasa/core/processor\.py"),
    ("form loop (ActionLoop/FormAction)", r"^run \(rasa/core/actions/loops\.py"),
    ("custom action call (RemoteAction.run)", r"^run \(rasa/core/actions/action\.py"),
    ("tracker state for the action server", r"^_action_call_format \(rasa/core/actions/action\.py"),
    ("HTTP to the action server", r"^request \(rasa/utils/endpoints\.py"),
    ("action response validation (jsonschema)", r"^_validate_action_result \("),
    ("events from dicts (Event.from_parameters)", r"^from_parameters \(rasa/shared/core/events\.py"),
    ("log events", r"^_log_action_on_tracker \(rasa/core/processor\.py"),
    ("logging", r"\(logging/__init__\.py"),
]
SUSPECTS_RASA = [
    ("jsonschema (action response validation)", r"\(jsonschema/"),
    ("Event.resolve_by_type → all_subclasses", r"^all_subclasses \(rasa/shared/utils/common\.py"),
    ("copy.deepcopy", r"^deepcopy \(copy\.py"),
    ("tracker (de)serialisation (dumps/loads, events to/from dicts)", r"^(serialise_tracker|deserialise_tracker) \(rasa/core/tracker_store\.py"),
    ("tracker states for policies (past_states)", r"^past_states \(rasa/shared/core/trackers\.py"),
    ("json encode", r"^(dumps|encode|iterencode) \(json/"),
    ("json decode", r"^(loads|decode|raw_decode) \(json/"),
    ("new aiohttp session/connection per action call", r"^(_create_direct_connection|_create_connection|__init__) \(aiohttp/(connector|client)\.py"),
    ("logging", r"\(logging/__init__\.py"),
    ("structlog", r"\(structlog/"),
    ("Redis client", r"\(redis/"),
    ("sparse matrices (scipy.sparse)", r"\(scipy/sparse/"),
    ("sequence features combined (Features.combine/concatenate)", r"^(combine_with_features|_combine_features|combine) \(rasa/shared/nlu/training_data/features\.py"),
    ("dataclasses.asdict", r"^asdict \(dataclasses\.py"),
]
ACTION_RULES = [
    ("HTTP request (Sanic)", r"^handle_request \(handle_request"),
    ("webhook (rasa_sdk)", r"^webhook \(rasa_sdk/endpoint\.py"),
    ("Tracker.from_dict", r"^from_dict \(rasa_sdk/interfaces\.py"),
    ("{cls}", r"^run \(actions/"),
    ("form: extraction (extract_<slot>, slot mappings)", r"^get_extraction_events \(rasa_sdk/forms\.py"),
    ("form: validation (validate_<slot>)", r"^get_validation_events \(rasa_sdk/forms\.py"),
    ("required_slots()", r"^required_slots \(actions/"),
    ("the next question's text (_prepare_question)", r"^_prepare_question \(actions/report\.py"),
    ("a new report's place (_fresh_start)", r"^_fresh_start \(actions/report\.py"),
    ("duplicate search", r"^_duplicate \(actions/report\.py"),
    ("follow the ticket (store.follow)", r"^follow \(bot/tickets\.py"),
    ("create the ticket (store.create)", r"^create \(bot/tickets\.py"),
    ("read the ticket back (store.get)", r"^get \(bot/tickets\.py"),
    ("status: latest ticket (store.latest_for_reporter)", r"^latest_for_reporter \(bot/tickets\.py"),
    ("remember the place (profiles.remember_place)", r"^remember_place \(bot/profiles\.py"),
    ("remembered place (profiles.place_of)", r"^place_of \(bot/profiles\.py"),
    ("role look-up (people.role_of)", r"^role_of \(bot/people\.py"),
    ("new SQLite connection (NullPool) + PRAGMAs", r"^(_create_connection|__connect) \(sqlalchemy/pool/base\.py"),
    ("close the connection (NullPool)", r"^(_close_connection|close) \(sqlalchemy/pool/base\.py"),
    ("commit", r"^commit \(sqlalchemy/orm/session\.py"),
    ("response JSON", r"^json \(sanic/response\.py"),
    ("logging", r"\(logging/__init__\.py"),
]
SUSPECTS_ACTIONS = [
    ("role_of (a session per call)", r"^role_of \(bot/people\.py"),
    ("duplicate search (find_duplicates)", r"^find_duplicates \(bot/tickets\.py"),
    ("required_slots() (called by the form and again by _prepare_question)", r"^required_slots \(actions/"),
    ("session_scope (every store call: new Session)", r"^session_scope \(bot/db\.py"),
    ("new SQLite connection per session (NullPool): connect + PRAGMAs", r"^_create_connection \(sqlalchemy/pool/base\.py"),
    ("PRAGMAs on every new connection", r"^_sqlite_pragmas \(bot/db\.py"),
    ("closing the connection (NullPool)", r"^do_close \(sqlalchemy/engine/default\.py"),
    ("selectin load of ticket history", r"^_load_for_path \(sqlalchemy/orm/strategies\.py"),
    ("staff file read (load_staff / yaml)", r"^(load_staff \(bot/people\.py|safe_load \(yaml/)"),
    ("directory look-ups", r"\(bot/directory\.py"),
    ("SQL compile/cache key", r"^(_compiler|compile|_gen_cache_key|_generate_cache_key) \(sqlalchemy/"),
    ("Tracker.from_dict", r"^from_dict \(rasa_sdk/interfaces\.py"),
    ("json encode", r"^(dumps|encode|iterencode) \(json/"),
    ("logging", r"\(logging/__init__\.py"),
]


SOURCES = [ROOT]  # where the recorded project's files are (the sidecar may name another tree)


@cache
def class_at(file: str, line: int) -> Optional[str]:
    """The class (its action name when it defines one) enclosing a line of a project file."""
    path = SOURCES[0] / file
    if not path.exists():
        return None
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.lineno <= line <= (node.end_lineno or node.lineno):
            for item in node.body:  # def name(self): return "action_…"
                if isinstance(item, ast.FunctionDef) and item.name == "name":
                    for sub in ast.walk(item):
                        if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                            return sub.value
            return node.name
    return None


def parse(path: Path) -> list[tuple[list[str], int]]:
    samples = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rstrip().rpartition(" ")
        if stack and count.isdigit():
            frames = [f for f in stack.split(";") if not PROCESS.match(f)]  # --subprocesses' root frame
            samples.append((frames, int(count)))
    return samples


def busy(samples):
    return [(frames, n) for frames, n in samples if frames and not frames[-1].startswith(IDLE_LEAVES)]


_LABELS: dict = {}


def label_of(frame: str, rules) -> Optional[str]:
    key = (frame, id(rules))
    if key not in _LABELS:
        _LABELS[key] = _label(frame, rules)
    return _LABELS[key]


def _label(frame: str, rules) -> Optional[str]:
    for label, pattern in rules:
        if re.search(pattern, frame):
            if "{cls}" in label:
                match = FRAME.match(frame)
                cls = class_at(match["file"], int(match["line"])) if match and match["line"] else None
                return label.replace("{cls}", cls or (match["func"] if match else frame))
            return label
    return None


def phase_tree(samples, rules) -> dict:
    """{path tuple: samples} for every prefix of every sample's label path (inclusive)."""
    counts: Counter = Counter()
    for frames, n in samples:
        path: list[str] = []
        for frame in frames:
            label = label_of(frame, rules)
            if label and (not path or path[-1] != label):
                path.append(label)
        counts[()] += n
        for depth in range(1, len(path) + 1):
            counts[tuple(path[:depth])] += n
        if not path:
            counts[("(outside any labelled phase)",)] += n
    return counts


def suspects(samples, rules) -> list[tuple[str, int]]:
    found = []
    for label, pattern in rules:
        regex = re.compile(pattern)
        found.append((label, sum(n for frames, n in samples if any(regex.search(f) for f in frames))))
    return found


def flamegraph(samples, out: Path, title: str, width: int = 1600) -> None:
    """A plain SVG flame graph (root at the bottom), a tooltip per frame."""
    root: dict = {"n": 0, "c": {}}
    for frames, n in samples:
        node = root
        node["n"] += n
        for frame in frames:
            node = node["c"].setdefault(frame, {"n": 0, "c": {}})
            node["n"] += n
    depth_of = lambda node: 1 + max((depth_of(c) for c in node["c"].values()), default=0)  # noqa: E731
    levels, row = depth_of(root), 16
    height = levels * row + 40
    total = max(1, root["n"])
    rects = []

    def walk(node, x: float, depth: int, name: str) -> None:
        w = node["n"] / total * width
        if w < 0.3:
            return
        y = height - (depth + 1) * row - 10
        hue = 10 + hash(name.split(" (")[-1].split("/")[0]) % 50
        label = html.escape(name)
        text = html.escape(name[: int(w / 7)]) if w > 30 else ""
        rects.append(f'<g><title>{label} — {node["n"]} samples ({100 * node["n"] / total:.1f}%)</title>'
                     f'<rect x="{x:.1f}" y="{y}" width="{w:.1f}" height="{row - 1}" fill="hsl({hue},80%,60%)"/>'
                     f'<text x="{x + 2:.1f}" y="{y + 11}" font-size="11" font-family="monospace">{text}</text></g>')
        for child_name, child in sorted(node["c"].items()):
            walk(child, x, depth + 1, child_name)
            x += child["n"] / total * width

    walk(root, 0.0, 0, "all")
    out.write_text(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
                   f'<text x="4" y="16" font-size="14" font-family="sans-serif">{html.escape(title)}</text>'
                   + "".join(rects) + "</svg>", encoding="utf-8")


def calls(counts: dict) -> dict:
    """Action-server calls from what a tracker shows: a form's validation action runs once per
    form turn and once more on the turn that activates it with slots already filled
    (FormAction.activate validates those first)."""
    found = {n: c for n, c in counts.items() if n != "user turns" and not n.endswith(" activated")
             and not n.startswith("utter_")}
    for form in [n for n in found if n.endswith("_form")]:
        found[f"validate_{form}"] = found.pop(form) + counts.get(f"{form} activated", 0)
    return found


def action_costs(tree: dict, run: dict, ms_per_sample: float) -> dict:
    """ms of action-server CPU per call of each action, and what that makes per turn of whole
    conversations (the script's own mix, whatever share of first turns the pass had)."""
    in_pass, whole = calls(run["in_pass"]), calls(run["per_conversation"])
    turns = run["per_conversation"].get("user turns") or 1
    rows = {}
    for name, count in sorted(in_pass.items(), key=lambda kv: -kv[1]):
        spent = tree.get(("HTTP request (Sanic)", "webhook (rasa_sdk)", name), 0) * ms_per_sample
        if not spent or not count:
            continue
        per_call = spent / count
        rows[name] = {"calls_in_pass": count, "ms_per_call": round(per_call, 3),
                      "calls_per_conversation": whole.get(name, 0),
                      "ms_per_turn_whole": round(per_call * whole.get(name, 0) / turns, 3)}
    return rows


def report(path: Path, ms_per_turn: Optional[float], depth: int, as_json: bool) -> dict:
    samples = parse(path)
    kept = busy(samples)
    total = sum(n for _, n in kept)
    kind = "actions" if any("rasa_sdk/endpoint.py" in f for frames, _ in kept[:200] for f in frames) else "rasa"
    sidecar = path.with_suffix(".pass.json")
    passed = json.loads(sidecar.read_text()) if sidecar.exists() else {}
    SOURCES[0] = Path(passed.get("linli_root") or ROOT)
    class_at.cache_clear()
    _LABELS.clear()
    if ms_per_turn is None:
        ms_per_turn = (passed.get("cpu_ms_per_turn") or {}).get(kind)
    scale = (ms_per_turn / total) if ms_per_turn and total else None
    rules, suspect_rules = (ACTION_RULES, SUSPECTS_ACTIONS) if kind == "actions" else (RASA_RULES, SUSPECTS_RASA)
    tree = phase_tree(kept, rules)
    found = suspects(kept, suspect_rules)
    flamegraph(kept, path.with_suffix(".svg"), f"{path.name}: {total} busy samples"
               + (f", {ms_per_turn:.1f} ms CPU per turn" if ms_per_turn else ""))
    value = (lambda n: round(n * scale, 2)) if scale else (lambda n: round(100 * n / max(1, total), 1))
    unit = "ms/turn" if scale else "% of busy samples"
    result = {"file": str(path), "kind": kind, "busy_samples": total,
              "idle_samples": sum(n for _, n in samples) - total, "ms_per_turn": ms_per_turn, "unit": unit,
              "pass": passed, "svg": str(path.with_suffix(".svg")),
              "phases": {" > ".join(k): value(v) for k, v in sorted(tree.items(), key=lambda kv: -kv[1]) if k},
              "suspects": {label: value(n) for label, n in sorted(found, key=lambda kv: -kv[1])}}
    if as_json:
        return result
    print(f"\n# {path}  ({kind}; {total} busy samples, {result['idle_samples']} idle"
          + (f"; {ms_per_turn:.2f} ms CPU/turn measured" if ms_per_turn else "") + f"; figures in {unit})")
    print(f"flame graph: {result['svg']}")
    children = defaultdict(list)
    for key, n in tree.items():
        if key:
            children[key[:-1]].append((key, n))

    def show(prefix: tuple, indent: int) -> None:
        for key, n in sorted(children[prefix], key=lambda kv: -kv[1]):
            if n / max(1, total) < 0.005 or len(key) > depth:
                continue
            print(f"{'  ' * indent}{value(n):8} {key[-1]}")
            show(key, indent + 1)

    show((), 0)
    run = passed.get("actions") or {}
    if kind == "actions" and scale and run.get("in_pass"):
        per_call = action_costs(tree, run, ms_per_turn * passed.get("turns", 0) / total)
        result["per_call"] = per_call
        print(f"per call (actions counted in the {run['conversations_read']} trackers of the pass"
              f"{'' if run.get('complete') else ', not all read'}; a whole conversation is "
              f"{run['per_conversation'].get('user turns', 0):g} turns):")
        for name, row in per_call.items():
            print(f"  {name}: {row['calls_in_pass']} calls, {row['ms_per_call']:.2f} ms per call, "
                  f"{row['calls_per_conversation']:g} per whole conversation -> {row['ms_per_turn_whole']:.2f} ms "
                  f"per turn in whole conversations")
    print("cross-cutting (inclusive, wherever called):")
    for label, n in sorted(found, key=lambda kv: -kv[1]):
        if n:
            print(f"  {value(n):8} {label}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    parser.add_argument("--ms-per-turn", type=float, help="CPU per turn of the recorded process (default: sidecar)")
    parser.add_argument("--depth", type=int, default=6, help="levels of the phase tree to print")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = [report(f, args.ms_per_turn, args.depth, args.json) for f in args.files]
    if args.json:
        json.dump(results, sys.stdout, ensure_ascii=False, indent=1)


if __name__ == "__main__":
    main()
