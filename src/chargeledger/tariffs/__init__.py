"""Tariff calendars, and the t1..t4 split of sessions."""
