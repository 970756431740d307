"""Authentication: tenants, API clients, access tokens, signing keys."""
