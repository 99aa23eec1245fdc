"""Alembic migrations of our own tables (never Rasa's tracker tables); run them with travelbot.schema."""
