from pathlib import Path

from travelbot.handoffs import Handoff, HandoffStore


def test_handoff_survives_a_new_store_on_the_same_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    record = Handoff(
        conversation_id="c1",
        channel="rest",
        reason="requested",
        last_message="agent please",
        transcript=[{"role": "user", "text": "agent please", "time": 1.0}],
        candidates=[{"entry_id": "contact-human", "score": 0.5}],
    )
    handoff_id = HandoffStore(url).record(record)
    again = HandoffStore(url).for_conversation("c1")
    assert [h.id for h in again] == [handoff_id]
    assert again[0].transcript[0]["text"] == "agent please"
    assert again[0].candidates == [{"entry_id": "contact-human", "score": 0.5}]
    assert again[0].status == "waiting" and not again[0].urgent
