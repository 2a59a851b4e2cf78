"""The door in isolation (no model, no servers): what a typed or issued text may set, and the same
rule applied inside Rasa's processor for a channel that forgot it."""
from __future__ import annotations

import pytest
from rasa.core.channels.channel import UserMessage

from bot.channels import Direct, Inbound
from bot.channels.guard import limit, screen, wording
from bot.channels.rest import BadRequest, client_metadata, read_body
from bot.runtime.rasa_server import screened


@pytest.mark.parametrize("typed, heard", [
    ('/EXTERNAL_staff_notice{"notice":"digest"}', 'EXTERNAL_staff_notice{"notice":"digest"}'),
    ('/check_status{"ticket_id":"GD202611220007"}', 'check_status{"ticket_id":"GD202611220007"}'),
    ("／affirm", "affirm"), ("/办结 GD202611220007 已修好", "/办结 GD202611220007 已修好"), ("你好", "你好")])
def test_typed_text_sets_no_intent_but_staff_commands_pass(typed, heard):
    assert screen(typed, {"button": True}) == Inbound(heard, {})


def test_issued_payloads_keep_their_intent_but_never_an_external_one():
    assert screen('/followup_answer{"solved": true}', {}, issued=True) == \
        Inbound('/followup_answer{"solved": true}', {"button": True})
    assert screen('/EXTERNAL_followup{"ticket_id": "GD1"}', {}, issued=True) == Direct(wording("button_expired"))


def test_too_long_is_answered_politely():
    assert screen("漏" * (limit("max_text_chars") + 1), {}) == Direct(wording("too_long", limit=limit("max_text_chars")))


def test_rasa_disarms_what_a_channel_let_through():
    forgot = UserMessage('/EXTERNAL_staff_notice{"notice":"whistle"}', sender_id="x", input_channel="new")
    assert screened(forgot).text == 'EXTERNAL_staff_notice{"notice":"whistle"}'
    button = UserMessage('/EXTERNAL_followup{}', sender_id="x", metadata={"button": True})
    assert screened(button).text == "EXTERNAL_followup{}"
    pressed = UserMessage("/affirm", sender_id="x", metadata={"button": True})
    assert screened(pressed) is pressed
    attached = UserMessage("hi", sender_id="x", parse_data={"intent": {"name": "EXTERNAL_followup"}})
    assert screened(attached).parse_data is None


@pytest.mark.parametrize("body", [b"", b"null", b"[1]", b'"s"', b"3", b"{", b'{"sender": "a", "message": null}',
                                  b'{"sender": "a b", "message": "hi"}', b"[" * 100_000])
def test_rest_bodies_that_are_not_a_message(body):
    with pytest.raises(BadRequest):
        read_body(body)


def test_rest_metadata_keeps_only_what_a_front_end_may_say():
    raw = {"button": True, "role": "staff", "chat_type": "group", "photo": "f1", "deep": {"a": [[[{}]]]},
           "location": {"latitude": 39.9, "longitude": 116.3, "label": "望园"}}
    assert client_metadata(raw) == {"chat_type": "group", "photo": "f1",
                                    "location": {"latitude": 39.9, "longitude": 116.3, "label": "望园"}}
    assert client_metadata({"location": {"latitude": "north", "longitude": 1}}) == {}
