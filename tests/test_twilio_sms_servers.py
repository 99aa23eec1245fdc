"""SMS and WhatsApp end to end: signed webhooks into the real Rasa server and action server.

Only Twilio's API is replaced, by a local HTTP server answering with the
recorded JSON (the Rasa server is a subprocess, so ``responses`` cannot reach
it). The webhook answers once the reply was handed to the API, so what the
stand-in received is complete when a POST returns.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import pytest
import requests
import sqlalchemy as sa

from channels import twilio_sms as sms
from knowledge.corpus import load_corpus
from tests import twilio_payloads as tw
from tests.servers import Servers, start_servers
from travelbot.optouts import OptOutStore

pytestmark = pytest.mark.slow

SMS_PATH = "/webhooks/twilio_sms/webhook"
WHATSAPP_PATH = "/webhooks/twilio_whatsapp/webhook"
QUESTION = "can I bring a power bank"


@pytest.fixture(scope="module")
def api() -> Iterator[tw.FakeTwilioApi]:
    with tw.FakeTwilioApi() as fake:
        yield fake


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, api: tw.FakeTwilioApi) -> Iterator[Servers]:
    with start_servers(tmp_path_factory.mktemp("twilio"), extra_env=tw.environment(api.url)) as running:
        yield running


@pytest.fixture(scope="module")
def corpus() -> Any:
    return load_corpus()


def post(live: Servers, path: str, pairs: tw.Form, signature: Optional[str] = None) -> requests.Response:
    """POST a form as Twilio would, signed for the PUBLIC url unless a signature is given."""
    sig = tw.sign(tw.PUBLIC_BASE_URL + path, pairs) if signature is None else signature
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sig}
    return requests.post(live.rasa_url + path, data=tw.encode(pairs), headers=headers, timeout=120)


def sms_form(number: str, body: str, sid: Optional[str] = None) -> tw.Form:
    return tw.form("sms_text", From=number, Body=body, MessageSid=sid or tw.new_sid())


def rest_meta(live: Servers, text: str) -> Dict[str, Any]:
    reply = live.say(f"rest-{uuid.uuid4().hex[:10]}", text)
    return dict(next(m["custom"] for m in reply if "custom" in m))


def delivery_rows(db: Path, sid: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("select count(*) from deliveries where message_id = ?", (sid,)).fetchone()[0])


def test_sms_question_gets_one_reply_with_the_entrys_sms_answer_even_when_redelivered(
    live: Servers, api: tw.FakeTwilioApi, corpus: Any
) -> None:
    entry = corpus[rest_meta(live, QUESTION)["entry_id"]]
    number = tw.new_number()
    pairs = sms_form(number, QUESTION)
    reply = post(live, SMS_PATH, pairs)
    assert reply.status_code == 200 and "<Response" in reply.text
    redeliveries = 3
    statuses = [post(live, SMS_PATH, pairs).status_code for _ in range(redeliveries)]
    (sent,) = api.to(number)
    assert sent.form == {"To": number, "From": tw.SMS_FROM, "Body": entry.answer_sms}
    assert (sent.path, sent.authorization) == (tw.MESSAGES_PATH, tw.basic_auth())
    assert statuses == [200] * redeliveries
    print(f"\nduplicate deliveries: {redeliveries} / duplicate replies: {len(api.to(number)) - 1}")


def test_forged_webhooks_are_403_and_change_nothing(live: Servers, api: tw.FakeTwilioApi) -> None:
    number = tw.new_number()
    public = tw.PUBLIC_BASE_URL + SMS_PATH
    attempts = {
        "wrong token": lambda p: tw.sign(public, p, token="f" * 32),
        "missing": lambda p: "",
        "signed for the internal url": lambda p: tw.sign(live.rasa_url + SMS_PATH, p),
        "signed for the whatsapp url": lambda p: tw.sign(tw.PUBLIC_BASE_URL + WHATSAPP_PATH, p),
        "body changed after signing": lambda p: tw.sign(public, sms_form(number, "STOP")),
        "garbage": lambda p: "c2lnbmF0dXJl",
    }
    rejected = 0
    for make_signature in attempts.values():
        pairs = sms_form(number, QUESTION)
        reply = post(live, SMS_PATH, pairs, signature=make_signature(pairs))
        rejected += reply.status_code == 403
        assert delivery_rows(live.handoff_db, dict(pairs)["MessageSid"]) == 0
    assert api.to(number) == []
    assert rejected == len(attempts)
    print(f"\nforged requests rejected: {rejected} / tried: {len(attempts)}")


def test_stop_silences_until_start(live: Servers, api: tw.FakeTwilioApi, corpus: Any) -> None:
    number = tw.new_number()
    assert post(live, SMS_PATH, sms_form(number, "STOP")).status_code == 200
    assert post(live, SMS_PATH, sms_form(number, QUESTION)).status_code == 200
    assert api.to(number) == []
    assert OptOutStore(sa.create_engine(f"sqlite:///{live.handoff_db}")).is_opted_out("twilio_sms", number)
    post(live, SMS_PATH, sms_form(number, "Start"))
    post(live, SMS_PATH, sms_form(number, QUESTION))
    bodies = [p.form["Body"] for p in api.to(number)]
    assert bodies == [sms.START_TEXT, corpus["power-banks"].answer_sms]


def test_media_only_gets_a_polite_reply(live: Servers, api: tw.FakeTwilioApi) -> None:
    number = tw.new_number()
    pairs = tw.form("sms_media_only", From=number, MessageSid=tw.new_sid("MM"))
    assert post(live, SMS_PATH, pairs).status_code == 200
    assert [p.form["Body"] for p in api.to(number)] == [sms.MEDIA_TEXT]


def test_long_bodies_get_a_reply_and_bad_bytes_a_400(live: Servers, api: tw.FakeTwilioApi) -> None:
    number = tw.new_number()
    assert post(live, SMS_PATH, sms_form(number, "can I bring " + "x" * 4_988)).status_code == 200
    assert post(live, SMS_PATH, sms_form(number, "y" * 5_001)).status_code == 200
    first, second = (p.form["Body"] for p in api.to(number))
    assert first and first != sms.FAILED_TEXT  # Rasa's own answer to an over-long question
    assert second == sms.TOO_LONG_TEXT
    bad = requests.post(
        live.rasa_url + SMS_PATH, data=b"Body=\xff\xfe", headers={"X-Twilio-Signature": "x"}, timeout=30
    )
    assert bad.status_code == 400 and "UTF-8" in bad.text


def test_clarify_is_a_numbered_list_and_a_number_picks(
    live: Servers, api: tw.FakeTwilioApi, corpus: Any, clarify_question: Dict[str, Any]
) -> None:
    question = clarify_question["question"]
    meta = rest_meta(live, question)
    assert meta["decision"] == "clarify"
    number = tw.new_number()
    post(live, SMS_PATH, sms_form(number, question))
    post(live, SMS_PATH, sms_form(number, "2"))
    listing, answer = (p.form["Body"] for p in api.to(number))
    titles = [choice["title"] for choice in meta["choices"]]
    assert [f"{n}. {title}" for n, title in enumerate(titles, 1)] == listing.splitlines()[1:-1]
    assert answer == corpus[meta["choices"][1]["entry_id"]].answer_sms


def test_whatsapp_uses_whatsapp_addresses_on_both_sides(
    live: Servers, api: tw.FakeTwilioApi, corpus: Any
) -> None:
    address = "whatsapp:" + tw.new_number()
    pairs = tw.form("whatsapp_text", From=address, Body=QUESTION, MessageSid=tw.new_sid())
    assert post(live, WHATSAPP_PATH, pairs).status_code == 200
    (sent,) = api.to(address)
    entry = corpus["power-banks"]
    assert (sent.form["To"], sent.form["From"]) == (address, tw.WHATSAPP_FROM)
    assert sent.form["Body"] == f"{entry.answer_sms}\nSource: {entry.source_url}"
