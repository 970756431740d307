"""Pydantic models: request validation and the OpenAPI schema, with the seed's field names."""
