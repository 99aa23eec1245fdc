import datetime as dt
from pathlib import Path

import pytest

from travelbot.agent_hours import describe_return, is_open, next_opening
from travelbot.settings import AgentHours, ConfigError, load_settings


def test_shipped_settings_load() -> None:
    settings = load_settings()
    assert settings.retrieval.handoff_min <= settings.retrieval.answer_min


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("retrieval:\n  answer_min: 2\n", "retrieval.answer_min"),
        ("retrieval:\n  answer_min: 0.1\n  clarify_min: 0.5\n", "retrieval.__root__"),
        ("agent_hours:\n  timezone: Mars/Olympus\n", "agent_hours.timezone"),
        ("storage:\n  backend: oracle\n", "storage.backend"),
        ("colour: blue\n", "colour"),
    ],
)
def test_bad_settings_name_file_and_key(tmp_path: Path, text: str, where: str) -> None:
    path = tmp_path / "travelbot.yml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    assert str(path) in str(info.value)
    assert where in str(info.value)


def test_postgres_without_url_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "travelbot.yml"
    path.write_text("storage:\n  backend: postgresql\n")
    monkeypatch.delenv("TRAVELBOT_DATABASE_URL", raising=False)
    with pytest.raises(ConfigError, match="TRAVELBOT_DATABASE_URL"):
        load_settings(path).storage.url()


def test_agent_hours() -> None:
    hours = AgentHours(timezone="America/New_York", days=[0, 1, 2, 3, 4], start=dt.time(8), end=dt.time(20))
    # Saturday 2026-11-21 15:00 UTC = 10:00 in New York: weekend, closed until Monday 8:00.
    saturday = dt.datetime(2026, 11, 21, 15, 0, tzinfo=dt.timezone.utc)
    assert not is_open(hours, saturday)
    assert next_opening(hours, saturday).isoformat().startswith("2026-11-23T08:00")
    assert describe_return(hours, saturday) == "at 8:00 AM EST on Monday"
    monday_noon = dt.datetime(2026, 11, 23, 17, 0, tzinfo=dt.timezone.utc)
    assert is_open(hours, monday_noon)
    monday_night = dt.datetime(2026, 11, 24, 2, 0, tzinfo=dt.timezone.utc)  # 21:00 Monday local
    assert describe_return(hours, monday_night) == "at 8:00 AM EST tomorrow"
