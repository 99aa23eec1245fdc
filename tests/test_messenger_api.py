"""Messenger output: formatting for the Send API and sends with retries, Graph API intercepted.

aioresponses stands in for graph.facebook.com at the HTTP boundary, answering
with Meta's recorded replies; every test asserts the exact JSON sent to Meta.
"""

from __future__ import annotations

import asyncio
from typing import Any, Dict, List, Tuple

import aiohttp
import pytest
from aioresponses import aioresponses

from channels import messenger_api
from channels.messenger import MessengerOutput
from channels.messenger_api import quick_reply_titles, send_to_traveler, split_text
from tests.messenger_payloads import ENV, SEND_URL, client, load, sent

# --- formatting -------------------------------------------------------------------------------


def respond(message: Dict[str, Any], psid: str = "7012345678901234") -> List[Dict[str, Any]]:
    with aioresponses() as graph:
        graph.post(SEND_URL, payload=load("send_ok"), repeat=True)
        asyncio.run(MessengerOutput(client()).send_response(psid, message))
        return sent(graph)


def test_answer_is_one_text_with_its_source_and_no_custom_json() -> None:
    answer = "Yes, in your carry-on bag only. Power banks are not allowed in checked bags."
    custom = {"decision": "answer", "entry_id": "power-banks", "source_url": "https://www.tsa.gov/x"}
    assert respond({"text": answer, "custom": custom}) == [
        {
            "recipient": {"id": "7012345678901234"},
            "messaging_type": "RESPONSE",
            "message": {"text": f"{answer}\n\nSource: https://www.tsa.gov/x"},
        }
    ]
    assert respond({"custom": custom}) == []  # the custom dict alone is never sent
    handoff = {"decision": "handoff", "reason": "requested", "handoff_id": 3}
    [handoff_body] = respond({"text": "Connecting you.", "custom": handoff})
    assert handoff_body["message"] == {"text": "Connecting you."}


def test_clarify_choices_become_quick_replies_and_a_numbered_list() -> None:
    buttons = [
        {"title": "Deodorant (Aerosol)", "payload": '/choose{"entry_id":"deodorant-aerosol"}'},
        {"title": "Deodorant (Gel or Liquid)", "payload": '/choose{"entry_id":"deodorant-gel"}'},
        {"title": "Deodorant (Solid)", "payload": '/choose{"entry_id":"deodorant-solid"}'},
    ]
    [sent_body] = respond({"text": "Did you mean one of these?", "buttons": buttons, "custom": {"x": 1}})
    message = sent_body["message"]
    assert message["text"] == (
        "Did you mean one of these?\n\n1. Deodorant (Aerosol)\n2. Deodorant (Gel or Liquid)\n"
        "3. Deodorant (Solid)\n\nTap a choice or type its number."
    )
    assert message["quick_replies"] == [
        {"content_type": "text", "title": "Aerosol", "payload": '/choose{"entry_id":"deodorant-aerosol"}'},
        {"content_type": "text", "title": "Gel or Liquid", "payload": '/choose{"entry_id":"deodorant-gel"}'},
        {"content_type": "text", "title": "Solid", "payload": '/choose{"entry_id":"deodorant-solid"}'},
    ]


@pytest.mark.parametrize(
    ("titles", "short"),
    [
        (["Power Banks", "Batteries"], ["Power Banks", "Batteries"]),
        (["Lithium Batteries (100 Wh or less)", "Car Batteries"], ["Lithium Batteries…", "Car Batteries"]),
        (["Supercalifragilisticexpialidocious"], ["Supercalifragilisti…"]),
        (["Dry Batteries (AA, AAA, C and D)", "Holiday Lights"], ["Dry Batteries…", "Holiday Lights"]),
        (["Knives (Plastic or Round Bladed)", "Knives (Plastic or Round Ends)"], ["Bladed", "Ends"]),
        (
            ["Lithium Batteries Spare Big", "Lithium Batteries Spare Small", "Car Batteries"],
            ["1. Lithium…", "2. Lithium…", "3. Car Batteries"],
        ),
    ],
)
def test_quick_reply_titles_are_short_and_distinct(titles: List[str], short: List[str]) -> None:
    got = quick_reply_titles(titles)
    assert got == short
    assert all(len(t) <= 20 for t in got) and len(set(got)) == len(got)


def test_long_text_is_split_at_sentence_ends_within_2000_chars() -> None:
    sentences = [f"Sentence number {i} says something about screening rules." for i in range(80)]
    text = " ".join(sentences)
    chunks = split_text(text)
    assert len(chunks) >= 2 and all(len(c) <= 2000 for c in chunks)
    assert all(c.endswith(".") for c in chunks)
    assert " ".join(chunks) == text
    unbroken = "x" * 4500
    assert split_text(unbroken) == ["x" * 2000, "x" * 2000, "x" * 500]
    emoji = split_text("🙂" * 1500)  # Meta counts UTF-16 units: an emoji is two
    assert [len(part) for part in emoji] == [1000, 500]
    bodies = respond({"text": text, "buttons": [{"title": "A", "payload": "/a"}]})
    assert [b["message"]["text"] for b in bodies][:-1] == chunks[: len(bodies) - 1]
    assert [("quick_replies" in b["message"]) for b in bodies] == [False] * (len(bodies) - 1) + [True]


# --- Graph API sends ---------------------------------------------------------------------------------


def send_one(graph_setup: Any, attempts: int = 4) -> Tuple[List[messenger_api.SendResult], List[Any]]:
    with aioresponses() as graph:
        graph_setup(graph)
        results = asyncio.run(client(attempts).send_text("7012345678901234", "hello"))
        return results, sent(graph)


EXPECTED = {
    "recipient": {"id": "7012345678901234"},
    "messaging_type": "RESPONSE",
    "message": {"text": "hello"},
}


def test_send_retries_5xx_429_and_connection_errors_then_succeeds() -> None:
    def setup(graph: aioresponses) -> None:
        graph.post(SEND_URL, status=503, body="upstream unavailable", content_type="text/plain")
        graph.post(SEND_URL, status=429, payload=load("send_rate_limited"))
        graph.post(SEND_URL, exception=aiohttp.ClientConnectionError("reset by peer"))
        graph.post(SEND_URL, payload=load("send_ok"))

    results, bodies = send_one(setup)
    assert bodies == [EXPECTED] * 4
    assert results == [
        messenger_api.SendResult(ok=True, status=200, message_id=load("send_ok")["message_id"])
    ]


def test_transient_graph_error_code_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    results, bodies = send_one(
        lambda g: g.post(SEND_URL, status=400, payload=load("send_rate_limited"), repeat=True), 3
    )
    assert len(bodies) == 3 and not results[0].ok and results[0].status == 400
    assert "after 3 attempts" in caplog.text


def test_permanent_error_is_logged_not_retried_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    results, bodies = send_one(
        lambda g: g.post(SEND_URL, status=400, payload=load("send_error"), repeat=True)
    )
    assert bodies == [EXPECTED]
    assert results[0].ok is False and "No matching user found" in str(results[0].error)
    assert "rejected (HTTP 400)" in caplog.text


def test_staff_reply_with_human_agent_tag(monkeypatch: pytest.MonkeyPatch) -> None:
    for var, value in ENV.items():
        monkeypatch.setenv(var, value)
    with aioresponses() as graph:
        graph.post(SEND_URL, payload=load("send_ok"), repeat=True)
        results = asyncio.run(
            send_to_traveler("7012345678901234", "Hi, this is Sam from the team.", human_agent=True)
        )
        plain = asyncio.run(send_to_traveler("7012345678901234", "Hello again."))
        bodies = sent(graph)
    assert results[0].ok and plain[0].ok
    assert bodies == [
        {
            "recipient": {"id": "7012345678901234"},
            "messaging_type": "MESSAGE_TAG",
            "tag": "HUMAN_AGENT",
            "message": {"text": "Hi, this is Sam from the team."},
        },
        {
            "recipient": {"id": "7012345678901234"},
            "messaging_type": "RESPONSE",
            "message": {"text": "Hello again."},
        },
    ]
