"""In-process checks of three fixes bench/PROFILE.md proposes for the Rasa process, against Rasa
3.6's own code (nothing from bot/ is imported): what each costs now and what the fix would cost.

- ``Event.resolve_by_type`` walks every subclass of Event (``all_subclasses``) for each event it
  turns back from a dict; a dict from type name to class built once gives the same class.
- The action-response validation (``RemoteAction.action_response_format_spec``) checks each event
  against a ``oneOf`` of every event type; each branch is told apart by ``event: {const: …}``, so
  validating an event against its own branch only accepts and refuses the same documents.
- A linear classifier's ``predict_proba`` on a sparse row copies ``coef_.T`` when ``coef_`` is
  C-ordered; stored Fortran-ordered, it does not (same probabilities).

    python bench/rasa_micro.py
"""
from __future__ import annotations

import json
import time

import numpy as np
import scipy.sparse as sp


def per_call_ms(fn, rounds: int = 300) -> float:
    fn()
    start = time.process_time()
    for _ in range(rounds):
        fn()
    return (time.process_time() - start) * 1000 / rounds


def events_sample() -> list[dict]:
    """Events of one Linli complaint turn as the action server returns them (slot sets, mostly)."""
    slots = ["category", "description", "community", "building", "unit", "room", "phone", "report_summary",
             "requested_slot", "failed_attempts", "offered_place", "place_offer", "same_problem", "duplicate_of"]
    return [{"event": "slot", "timestamp": None, "name": name, "value": "x"} for name in slots]


def main() -> None:
    from jsonschema import validators
    from jsonschema.exceptions import best_match
    from rasa.core.actions.action import RemoteAction
    from rasa.shared.core.events import ActionExecuted, Event, SlotSet, UserUttered
    from rasa.shared.utils.common import all_subclasses

    results = {}
    # 1. Event.resolve_by_type
    names = ["slot", "action", "user", "bot", "active_loop"]
    results["resolve_by_type_us_now"] = per_call_ms(lambda: [Event.resolve_by_type(n) for n in names], 200) * 1000 / 5
    table = {cls.type_name: cls for cls in all_subclasses(Event)}
    assert all(table[n] is Event.resolve_by_type(n) for n in names)
    results["resolve_by_type_us_cached"] = per_call_ms(lambda: [table.get(n) for n in names], 2000) * 1000 / 5
    tracker_events = [ActionExecuted("action_listen").as_dict(), UserUttered("x", {"name": "report_issue"}).as_dict()] + \
        [SlotSet(f"s{i}", "v").as_dict() for i in range(40)]
    results["events_from_dicts_ms_now_42_events"] = per_call_ms(
        lambda: [Event.from_parameters(e) for e in tracker_events], 100)

    # 2. action response validation
    schema = RemoteAction.action_response_format_spec()
    full = validators.validator_for(schema)(schema)
    response = {"events": events_sample(), "responses": [{"text": "请您确认一下", "buttons": []}]}
    results["validation_ms_now"] = per_call_ms(lambda: best_match(full.iter_errors(response)), 100)
    item = schema["properties"]["events"]["items"]
    base = {k: v for k, v in item.items() if k != "oneOf"}
    branches = {}
    for branch in item["oneOf"]:
        const = branch.get("properties", {}).get("event", {}).get("const")
        branches[const] = validators.validator_for(schema)({**base, **branch})
    rest = validators.validator_for(schema)({**schema, "properties": {k: v for k, v in schema["properties"].items()
                                                                      if k != "events"}})

    def by_type(doc: dict) -> bool:
        for event in doc.get("events") or []:
            validator = branches.get(event.get("event")) if isinstance(event, dict) else None
            if validator is None or not validator.is_valid(event):
                return best_match(full.iter_errors(doc)) is None  # the full check says why
        return rest.is_valid(doc)
    assert by_type(response) and full.is_valid(response)
    results["validation_ms_by_event_type"] = per_call_ms(lambda: by_type(response), 300)
    results["event_branches"] = len(branches)

    # 3. predict_proba with C- vs Fortran-ordered coefficients (shape of Linli's intent model)
    from sklearn.linear_model import LogisticRegression
    rng = np.random.default_rng(0)
    features = 14527
    x_train = sp.random(1500, features, density=0.002, format="csr", random_state=0)
    clf = LogisticRegression(C=20, max_iter=300).fit(x_train, rng.integers(0, 19, 1500))
    row = sp.random(1, features, density=0.002, format="csr", random_state=1)
    before = clf.predict_proba(row)
    results["predict_proba_ms_c_order"] = per_call_ms(lambda: clf.predict_proba(row))
    clf.coef_ = np.asfortranarray(clf.coef_)
    assert np.allclose(before, clf.predict_proba(row))
    results["predict_proba_ms_fortran_order"] = per_call_ms(lambda: clf.predict_proba(row))
    print(json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in results.items()}, indent=1))


if __name__ == "__main__":
    main()
