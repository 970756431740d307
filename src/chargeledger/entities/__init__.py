"""Entities (EVs and charge points): features, battery capacity."""
