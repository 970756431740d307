"""The HTTP layer: thin endpoints over the services, problem+json errors, the OpenAPI."""
