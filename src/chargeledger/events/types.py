"""The event types there are: what GET /v1/events filters by and a webhook subscribes to."""

CHARGE_SESSION_CREATED = "charge-session.created"
CHARGE_SESSION_UPDATED = "charge-session.updated"
CHARGE_SESSION_REMOVED = "charge-session.removed"
STATEMENT_FINALISED = "statement.finalised"
# A subscription whose deliveries failed for days was switched off (webhooks/dispatcher).
WEBHOOK_DISABLED = "webhook.disabled"

# In the order the documentation lists them.
EVENT_TYPES: tuple[str, ...] = (
    CHARGE_SESSION_CREATED,
    CHARGE_SESSION_UPDATED,
    CHARGE_SESSION_REMOVED,
    STATEMENT_FINALISED,
    WEBHOOK_DISABLED,
)
