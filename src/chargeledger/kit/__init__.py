"""Shared helpers of every feature: problem responses, paging, responses, parameters, schemas."""
