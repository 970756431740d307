"""Application services: use cases that combine the domain with storage.

They take an open connection and never commit; the caller (an HTTP request, a CLI command)
owns the transaction, so a failure anywhere leaves nothing half-written.
"""
