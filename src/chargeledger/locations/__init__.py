"""Locations, and the matching of sessions to them."""
