"""Incident prevention: notifications of planned activity, conflicts, answers in time."""
