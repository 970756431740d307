"""Ingestion adapters: turn what devices and other systems send into domain input."""
