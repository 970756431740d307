"""Readings, and the sessions detected from them."""
