"""The schema. Migrations under migrations/versions create exactly this.

Keys lead with the tenant or entity so that rows of one entity sit together (keyset paging
reads one index range) and a table can later be sharded by tenant or entity.
"""

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

# Where earlier releases kept the generated master secret in plain text. Nothing is written
# here any more; auth/keys.py moves a secret found here into the key file and deletes it.
server_secrets = sa.Table(
    "server_secrets",
    metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

tenants = sa.Table(
    "tenants",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

api_clients = sa.Table(
    "api_clients",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id"), nullable=False, index=True),
    sa.Column("secret_hash", sa.Text, nullable=False),  # argon2id, never the secret itself
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("revoked_ms", sa.BigInteger, nullable=True),
)

entities = sa.Table(
    "entities",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("type", sa.String(32), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("identifier", sa.Text, nullable=True),
    sa.Column("brand", sa.Text, nullable=True),
    sa.Column("properties_json", sa.Text, nullable=False),
    sa.Column("capture_charge_sessions", sa.Boolean, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    # Entity Settings > Battery Capacity: turns state-of-charge changes into energy.
    sa.Column("battery_capacity_kwh", sa.Double, nullable=True),
    sa.UniqueConstraint("tenant_id", "identifier"),
    sa.Index(None, "tenant_id", "created_ms", "id"),  # keyset paging of GET /v1/entities
)

locations = sa.Table(
    "locations",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("entity_id", sa.Uuid, sa.ForeignKey("entities.id"), nullable=False),
    sa.Column("label", sa.Text, nullable=False),
    sa.Column("address", sa.Text, nullable=True),
    sa.Column("latitude", sa.Double, nullable=False),
    sa.Column("longitude", sa.Double, nullable=False),
    sa.Column("radius_m", sa.Double, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Index(None, "entity_id", "created_ms", "id"),
)

charge_sessions = sa.Table(
    "charge_sessions",
    metadata,
    sa.Column("entity_id", sa.Uuid, sa.ForeignKey("entities.id"), primary_key=True),
    sa.Column("id", sa.Uuid, primary_key=True),
    # Set for sessions measured elsewhere and posted or imported; the idempotency key.
    sa.Column("external_id", sa.Text, nullable=True),
    sa.Column("start_ms", sa.BigInteger, nullable=False),
    sa.Column("end_ms", sa.BigInteger, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
    sa.Column("energy_kwh", sa.Double, nullable=True),
    sa.Column("t1_kwh", sa.Double, nullable=True),
    sa.Column("t2_kwh", sa.Double, nullable=True),
    sa.Column("t3_kwh", sa.Double, nullable=True),
    sa.Column("t4_kwh", sa.Double, nullable=True),
    sa.Column("average_power_kw", sa.Double, nullable=True),
    sa.Column("soc_start_pct", sa.Double, nullable=True),
    sa.Column("soc_end_pct", sa.Double, nullable=True),
    sa.Column("range_start_km", sa.Double, nullable=True),
    sa.Column("range_end_km", sa.Double, nullable=True),
    sa.Column("latitude", sa.Double, nullable=True),
    sa.Column("longitude", sa.Double, nullable=True),
    sa.Column("position_uncertainty_m", sa.Double, nullable=True),
    sa.Column("address", sa.Text, nullable=True),  # as given; null when none was given
    # Derived from the entity's locations, recomputed whenever they change: the serialized
    # locationMatches list and the best match's address (the fallback for location.address).
    sa.Column("location_matches_json", sa.Text, nullable=False),
    sa.Column("matched_address", sa.Text, nullable=True),
    # Where the session came from: "external" (posted or imported), "readings" (detected).
    sa.Column("source", sa.String(16), nullable=False, server_default="external"),
    # How it was detected and how its energy was measured (see domain.session_detection).
    sa.Column("method", sa.String(32), nullable=True),
    sa.Column("energy_method", sa.String(32), nullable=True),
    # How far the true energy can be from energy_kwh given the data (kWh); null when unknown
    # (always for posted and imported sessions).
    sa.Column("energy_uncertainty_kwh", sa.Double, nullable=True),
    # OCPP sessions: the idTag / idToken that started the transaction (who charged), and
    # what the charger's signed meter values say of the energy (domain/meter_evidence).
    sa.Column("id_tag", sa.Text, nullable=True),
    sa.Column("meter_evidence", sa.String(24), nullable=True),
    # True when t1..t4 were given by the sender; else they are computed from the tariff
    # calendar and recomputed when the calendar changes.
    sa.Column("tiers_given", sa.Boolean, nullable=False, server_default=sa.true()),
    # The record as the API serves it, rebuilt whenever the row changes (domain/record_json):
    # pages are these spliced together, with no per-record work when reading.
    sa.Column("record_json", sa.Text, nullable=False, server_default=""),
    # The number of its newest row in charge_session_versions; only the one writer
    # (charge_sessions/writer.py) changes a session, and only from the version it compared with.
    sa.Column("version", sa.Integer, nullable=False, server_default="1"),
    sa.UniqueConstraint("entity_id", "external_id"),
    sa.Index(None, "entity_id", "start_ms", "id", unique=True),  # keyset paging by start, id
)

# What vehicles and chargers report, one row per entity and instant (a repeat is a duplicate).
readings = sa.Table(
    "readings",
    metadata,
    sa.Column("entity_id", sa.Uuid, sa.ForeignKey("entities.id"), primary_key=True),
    sa.Column("timestamp_ms", sa.BigInteger, primary_key=True),
    sa.Column("received_ms", sa.BigInteger, nullable=False),
    sa.Column("soc_pct", sa.Double, nullable=True),
    sa.Column("range_km", sa.Double, nullable=True),
    sa.Column("is_charging", sa.Boolean, nullable=True),
    sa.Column("is_plugged_in", sa.Boolean, nullable=True),
    # The cumulative import counter (positiveActiveEnergy), per register and in total.
    sa.Column("energy_t1_kwh", sa.Double, nullable=True),
    sa.Column("energy_t2_kwh", sa.Double, nullable=True),
    sa.Column("energy_t3_kwh", sa.Double, nullable=True),
    sa.Column("energy_t4_kwh", sa.Double, nullable=True),
    sa.Column("energy_total_kwh", sa.Double, nullable=True),
    sa.Column("power_kw", sa.Double, nullable=True),
    sa.Column("latitude", sa.Double, nullable=True),
    sa.Column("longitude", sa.Double, nullable=True),
    sa.Column("position_uncertainty_m", sa.Double, nullable=True),
    sa.Column("odometer_km", sa.Double, nullable=True),
    sa.Column("speed_kmh", sa.Double, nullable=True),
    # Fields of the reading we do not interpret (currents, voltages, ...), kept as given.
    sa.Column("extra_json", sa.Text, nullable=True),
)

# The session detector's memory per entity: where an ongoing (not yet listed) session began.
detector_state = sa.Table(
    "detector_state",
    metadata,
    sa.Column("entity_id", sa.Uuid, sa.ForeignKey("entities.id"), primary_key=True),
    sa.Column("open_since_ms", sa.BigInteger, nullable=True),
    sa.Column("last_reading_ms", sa.BigInteger, nullable=True),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
    sa.Index(None, "open_since_ms", "last_reading_ms"),  # the sweep for stale open sessions
)

# Time-of-use calendars, versioned by validFrom; location_id set for a location's own calendar.
tariff_calendars = sa.Table(
    "tariff_calendars",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("entity_id", sa.Uuid, sa.ForeignKey("entities.id"), nullable=False),
    sa.Column("location_id", sa.Uuid, nullable=True),
    sa.Column("valid_from_ms", sa.BigInteger, nullable=False),
    sa.Column("definition_json", sa.Text, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Index(None, "entity_id", "location_id", "valid_from_ms"),
)

# OCPP charge points: one per ChargePoint entity that may connect. A charger connects at
# /ocpp/<tenant id>/<identity>, so an identity is unique within its tenant only: no tenant can
# see or take another's. Stations registered while the URL named no tenant (before migration
# 0007) also answer at /ocpp/<identity>: their legacy_identity reserves that identity across
# tenants for that path only (null for every station registered since).
ocpp_stations = sa.Table(
    "ocpp_stations",
    metadata,
    sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("identity", sa.String(48), primary_key=True),
    sa.Column("entity_id", sa.Uuid, sa.ForeignKey("entities.id"), nullable=False, unique=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("protocol", sa.String(16), nullable=True),
    sa.Column("vendor", sa.Text, nullable=True),
    sa.Column("model", sa.Text, nullable=True),
    sa.Column("serial_number", sa.Text, nullable=True),
    sa.Column("firmware_version", sa.Text, nullable=True),
    sa.Column("last_boot_ms", sa.BigInteger, nullable=True),
    sa.Column("last_seen_ms", sa.BigInteger, nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    # The public key of the charger's calibrated meter (hex of DER), to verify signed values.
    sa.Column("meter_public_key", sa.Text, nullable=True),
    # Deviations from the specification tolerated for this charger (off unless switched on).
    sa.Column("zoneless_timestamps_as_utc", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("numbers_as_strings", sa.Boolean, nullable=False, server_default=sa.false()),
    # The charger's newest connection: an older one still open in any process is closed.
    sa.Column("connection_id", sa.Uuid, nullable=True),
    sa.Column("connected_ms", sa.BigInteger, nullable=True),
    sa.Column("legacy_identity", sa.String(48), nullable=True, unique=True),
)

# Transactions as the charge point reports them; a finished one becomes a charge session.
ocpp_transactions = sa.Table(
    "ocpp_transactions",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("entity_id", sa.Uuid, sa.ForeignKey("entities.id"), nullable=False),
    # 1.6: the integer transactionId we assigned, as text; 2.0.1: the station's own id.
    sa.Column("transaction_key", sa.String(64), nullable=False),
    sa.Column("number", sa.Integer, nullable=True),
    sa.Column("connector_id", sa.Integer, nullable=True),
    sa.Column("evse_id", sa.Integer, nullable=True),
    sa.Column("id_tag", sa.Text, nullable=True),
    sa.Column("start_ms", sa.BigInteger, nullable=True),
    # False while the start is only inferred (a 2.0.1 transaction whose Started never came:
    # its earliest event or meter value); a Started, however late, then fixes it.
    sa.Column("start_reported", sa.Boolean, nullable=False, server_default=sa.true()),
    sa.Column("meter_start_wh", sa.Double, nullable=True),
    sa.Column("stop_ms", sa.BigInteger, nullable=True),
    sa.Column("meter_stop_wh", sa.Double, nullable=True),
    sa.Column("stop_reason", sa.String(64), nullable=True),
    # open, stopped, timed-out (closed by us), unknown-start (a stop we never saw start)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("last_message_ms", sa.BigInteger, nullable=False),
    sa.Column("needs_session", sa.Boolean, nullable=False),
    sa.Column("session_id", sa.Uuid, nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("entity_id", "transaction_key"),
    sa.Index(None, "entity_id", "number"),
    sa.Index(None, "status", "last_message_ms"),
    sa.Index(None, "needs_session"),
)

# 2.0.1 TransactionEvents seen. A repeat is the same event sent again (the same digest of
# its content), not the same seqNo: stations reuse seqNos (after a reboot, or always).
ocpp_transaction_events = sa.Table(
    "ocpp_transaction_events",
    metadata,
    sa.Column("transaction_id", sa.Uuid, primary_key=True),
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("seq_no", sa.BigInteger, nullable=False),
    sa.Column("event_type", sa.String(16), nullable=False),
    sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
    sa.Column("received_ms", sa.BigInteger, nullable=False),
)

# Signed meter values of a transaction as sent (OCMF or other), the evidence behind its
# energy; one row per distinct value.
ocpp_signed_values = sa.Table(
    "ocpp_signed_values",
    metadata,
    sa.Column("transaction_id", sa.Uuid, primary_key=True),
    sa.Column("digest", sa.String(64), primary_key=True),
    sa.Column("timestamp_ms", sa.BigInteger, nullable=False),
    sa.Column("context", sa.String(32), nullable=True),
    sa.Column("measurand", sa.String(64), nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.Column("encoding_method", sa.String(64), nullable=True),
    sa.Column("signing_method", sa.String(64), nullable=True),
    sa.Column("public_key", sa.Text, nullable=True),
    sa.Column("received_ms", sa.BigInteger, nullable=False),
)

# What a charger said besides meter values and transactions (notifications, boots, status,
# data transfers), and what we did about its messages (values dropped, deviations tolerated,
# connections replaced): its log, newest first.
ocpp_charger_events = sa.Table(
    "ocpp_charger_events",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("entity_id", sa.Uuid, sa.ForeignKey("entities.id"), nullable=False),
    sa.Column("received_ms", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.String(48), nullable=False),
    sa.Column("detail_json", sa.Text, nullable=False),
    sa.Index(None, "entity_id", "received_ms", "id"),
)

# A transaction's meter values (its energy profile), one per instant.
ocpp_meter_samples = sa.Table(
    "ocpp_meter_samples",
    metadata,
    sa.Column("transaction_id", sa.Uuid, primary_key=True),
    sa.Column("timestamp_ms", sa.BigInteger, primary_key=True),
    sa.Column("energy_kwh", sa.Double, nullable=True),
    sa.Column("power_kw", sa.Double, nullable=True),
    sa.Column("soc_pct", sa.Double, nullable=True),
)

# Every state a charge session has had, oldest first: the record as it was served, why it
# changed and who changed it. A session a re-derivation removed keeps its rows here; its last
# version (change "removed") names the sessions that replaced it.
charge_session_versions = sa.Table(
    "charge_session_versions",
    metadata,
    sa.Column("entity_id", sa.Uuid, primary_key=True),
    sa.Column("session_id", sa.Uuid, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("recorded_ms", sa.BigInteger, nullable=False),
    # created, updated or removed
    sa.Column("change", sa.String(16), nullable=False),
    # Why: posted, imported, detected, ocpp, resplit, rematched, redetected, evidence, ...
    sa.Column("reason", sa.String(32), nullable=False),
    # Which channel wrote it: external, readings, ocpp
    sa.Column("source", sa.String(16), nullable=False),
    sa.Column("record_json", sa.Text, nullable=False),
    # removed: the ids (JSON list) of the sessions that took its place, [] when none did.
    sa.Column("replaced_by_json", sa.Text, nullable=True),
)

# What happened, per tenant, in commit order: `sequence` is handed out by the tenant's row in
# event_counters at the end of the writing transaction, so a later sequence never commits
# before an earlier one and a client paging by sequence never skips an event.
events = sa.Table(
    "events",
    metadata,
    sa.Column("tenant_id", sa.Uuid, primary_key=True),
    sa.Column("sequence", sa.BigInteger, primary_key=True),
    sa.Column("id", sa.Uuid, nullable=False, unique=True),
    sa.Column("type", sa.String(48), nullable=False),
    sa.Column("entity_id", sa.Uuid, nullable=True),
    # What the event is about: the session (or, later, the statement).
    sa.Column("subject_id", sa.Uuid, nullable=True),
    sa.Column("version", sa.Integer, nullable=True),
    sa.Column("occurred_ms", sa.BigInteger, nullable=False),
    # The whole event as delivered: {"type", "timestamp", "data"} (Standard Webhooks payload).
    sa.Column("payload_json", sa.Text, nullable=False),
    sa.Index(None, "tenant_id", "type", "sequence"),
    sa.Index(None, "tenant_id", "entity_id", "sequence"),
)

event_counters = sa.Table(
    "event_counters",
    metadata,
    sa.Column("tenant_id", sa.Uuid, primary_key=True),
    sa.Column("last_sequence", sa.BigInteger, nullable=False),
)

# Where a tenant wants its events pushed (Standard Webhooks). The secret signs deliveries; a
# rotated-out secret keeps signing alongside the new one until previous_secret_expires_ms.
webhook_subscriptions = sa.Table(
    "webhook_subscriptions",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    # JSON list of event types; [] means every type.
    sa.Column("event_types_json", sa.Text, nullable=False),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("previous_secret", sa.Text, nullable=True),
    sa.Column("previous_secret_expires_ms", sa.BigInteger, nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
    # Since when every attempt has failed (null while deliveries succeed); a subscription
    # failing for days is disabled, with the reason and instant recorded.
    sa.Column("failing_since_ms", sa.BigInteger, nullable=True),
    sa.Column("disabled_ms", sa.BigInteger, nullable=True),
    sa.Column("disabled_reason", sa.Text, nullable=True),
    sa.Column("deleted_ms", sa.BigInteger, nullable=True),
    sa.Index(None, "tenant_id", "created_ms", "id"),
)

# One event to one subscription. Due ones are claimed with FOR UPDATE SKIP LOCKED and a lease
# (lease_until_ms): a process that dies holding one lets it go when the lease runs out.
webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("subscription_id", sa.Uuid, nullable=False),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("event_sequence", sa.BigInteger, nullable=False),
    sa.Column("event_id", sa.Uuid, nullable=False),
    # Deliveries with one key go out one at a time, in event order (a session's versions).
    sa.Column("ordering_key", sa.String(64), nullable=False),
    # pending, delivered, failed (gave up), cancelled (subscription deleted or disabled)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_ms", sa.BigInteger, nullable=False),
    sa.Column("lease_until_ms", sa.BigInteger, nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("last_attempt_ms", sa.BigInteger, nullable=True),
    sa.Column("last_response_status", sa.Integer, nullable=True),
    sa.Column("last_error", sa.Text, nullable=True),
    sa.Column("delivered_ms", sa.BigInteger, nullable=True),
    sa.Index(None, "status", "next_attempt_ms"),
    sa.Index(None, "subscription_id", "ordering_key", "event_sequence"),
    sa.Index(None, "subscription_id", "created_ms", "id"),
)

# Each try of a delivery: when, how long, what came back.
webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("delivery_id", sa.Uuid, primary_key=True),
    sa.Column("attempt", sa.Integer, primary_key=True),
    sa.Column("started_ms", sa.BigInteger, nullable=False),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("response_status", sa.Integer, nullable=True),
    sa.Column("error", sa.Text, nullable=True),
)

# Reimbursement (issue 12). Money and prices are decimal text ("0.2845"), never floats: the
# same digits on SQLite and PostgreSQL, and exactly what was entered. Dates are ISO text
# ("2026-10-01"), local dates of the tenant's reimbursement time zone; a `valid_to` or
# `period_end` is the first day no longer included (null: open).

# An employee who is reimbursed. Deleting one is refused once a statement names them.
drivers = sa.Table(
    "drivers",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("employee_number", sa.Text, nullable=False),
    # Where the regional maximum comes from (e.g. BE-VLG, BE-WAL, BE-BRU).
    sa.Column("region", sa.Text, nullable=True),
    sa.Column("email", sa.Text, nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("tenant_id", "employee_number"),
    sa.Index(None, "tenant_id", "created_ms", "id"),
)

# What is the driver's, from when to when: a car (kind "car", an EV entity), a home charge
# point (kind "homeChargePoint", a ChargePoint entity) or an RFID tag (kind "idTag"). Kept
# when they end (valid_to set), so a statement of any month can be computed again.
driver_assignments = sa.Table(
    "driver_assignments",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("driver_id", sa.Uuid, sa.ForeignKey("drivers.id"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("entity_id", sa.Uuid, sa.ForeignKey("entities.id"), nullable=True),
    sa.Column("id_tag", sa.Text, nullable=True),
    sa.Column("valid_from", sa.String(10), nullable=False),
    sa.Column("valid_to", sa.String(10), nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Index(None, "tenant_id", "driver_id", "valid_from"),
    sa.Index(None, "tenant_id", "entity_id"),
    sa.Index(None, "tenant_id", "id_tag"),
)

# A price list: per period, a price per kWh for each register. A plan may be capped by
# another (an employee's contract by the regional maximum): per register, the lower applies.
rate_plans = sa.Table(
    "rate_plans",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("cap_plan_id", sa.Uuid, sa.ForeignKey("rate_plans.id"), nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
    sa.Index(None, "tenant_id", "created_ms", "id"),  # The CSV import finds plans by name.
    sa.Index(None, "tenant_id", "name"),
)

rate_plan_periods = sa.Table(
    "rate_plan_periods",
    metadata,
    sa.Column("plan_id", sa.Uuid, sa.ForeignKey("rate_plans.id"), primary_key=True),
    sa.Column("valid_from", sa.String(10), primary_key=True),
    sa.Column("valid_to", sa.String(10), nullable=True),
    sa.Column("t1_price", sa.Text, nullable=False),
    sa.Column("t2_price", sa.Text, nullable=False),
    sa.Column("t3_price", sa.Text, nullable=False),
    sa.Column("t4_price", sa.Text, nullable=False),
)

# Which plan prices a driver's charging, from when to when.
driver_rate_plans = sa.Table(
    "driver_rate_plans",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("driver_id", sa.Uuid, sa.ForeignKey("drivers.id"), nullable=False),
    sa.Column("plan_id", sa.Uuid, sa.ForeignKey("rate_plans.id"), nullable=False),
    sa.Column("valid_from", sa.String(10), nullable=False),
    sa.Column("valid_to", sa.String(10), nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Index(None, "tenant_id", "driver_id", "valid_from"),
)

# What counts, per tenant (a tenant without a row has the defaults of domain/reimbursement).
reimbursement_policies = sa.Table(
    "reimbursement_policies",
    metadata,
    sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id"), primary_key=True),
    sa.Column("time_zone", sa.Text, nullable=False),
    # Of a statement no rate plan gives a currency to (a driver without plan or sessions).
    sa.Column("currency", sa.String(3), nullable=False, server_default="EUR"),
    sa.Column("home_location_label", sa.Text, nullable=False),
    sa.Column("minimum_accuracy", sa.Text, nullable=False),
    sa.Column("count_car_at_home", sa.Boolean, nullable=False),
    sa.Column("count_home_charge_point", sa.Boolean, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

# A finalised statement: immutable. content_json is the statement exactly as finalised
# (canonical JSON), content_sha256 its hash; nothing ever updates a row of this table.
statements = sa.Table(
    "statements",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("driver_id", sa.Uuid, sa.ForeignKey("drivers.id"), nullable=False),
    sa.Column("number", sa.String(32), nullable=False),
    sa.Column("period_start", sa.String(10), nullable=False),
    sa.Column("period_end", sa.String(10), nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("total_amount", sa.Text, nullable=False),
    sa.Column("finalised_ms", sa.BigInteger, nullable=False),
    sa.Column("content_json", sa.Text, nullable=False),
    sa.Column("content_sha256", sa.String(64), nullable=False),
    sa.UniqueConstraint("tenant_id", "number"),
    sa.Index(None, "tenant_id", "driver_id", "period_start"),
    sa.Index(None, "tenant_id", "period_start", "driver_id"),
)

# The lines of finalised statements, one row each, for what later statements need to know:
# what was paid for a session so far (its lines and adjustments), so that a change after
# finalising becomes an adjustment of the difference.
statement_lines = sa.Table(
    "statement_lines",
    metadata,
    sa.Column("statement_id", sa.Uuid, sa.ForeignKey("statements.id"), primary_key=True),
    sa.Column("line_number", sa.Integer, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, nullable=False),
    sa.Column("driver_id", sa.Uuid, nullable=False),
    # session or adjustment
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("entity_id", sa.Uuid, nullable=False),
    sa.Column("session_id", sa.Uuid, nullable=False),
    sa.Column("session_version", sa.Integer, nullable=True),
    sa.Column("session_start_ms", sa.BigInteger, nullable=False),
    sa.Column("t1_kwh", sa.Text, nullable=False),
    sa.Column("t2_kwh", sa.Text, nullable=False),
    sa.Column("t3_kwh", sa.Text, nullable=False),
    sa.Column("t4_kwh", sa.Text, nullable=False),
    sa.Column("amount", sa.Text, nullable=False),
    sa.Index(None, "tenant_id", "driver_id", "session_id"),
)

# Hands out statement numbers per tenant; its row is locked while a statement is finalised,
# so one tenant's finalisations (and the overlap check) happen one at a time.
statement_counters = sa.Table(
    "statement_counters",
    metadata,
    sa.Column("tenant_id", sa.Uuid, primary_key=True),
    sa.Column("last_number", sa.BigInteger, nullable=False),
)

# Runs of statements for every driver of a tenant and period, with their exports.
statement_runs = sa.Table(
    "statement_runs",
    metadata,
    sa.Column("id", sa.Uuid, primary_key=True),
    sa.Column("tenant_id", sa.Uuid, sa.ForeignKey("tenants.id"), nullable=False),
    sa.Column("period_start", sa.String(10), nullable=False),
    sa.Column("period_end", sa.String(10), nullable=False),
    sa.Column("finalise", sa.Boolean, nullable=False),
    # pending, running, succeeded, failed. A serving process claims a pending (or abandoned:
    # lease run out) run with FOR UPDATE SKIP LOCKED and a lease it renews while working.
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("lease_until_ms", sa.BigInteger, nullable=True),
    sa.Column("driver_count", sa.Integer, nullable=False),
    sa.Column("drivers_done", sa.Integer, nullable=False),
    sa.Column("total_amount", sa.Text, nullable=True),
    # Drivers whose statement could not be made or finalised: [{"driverId", "problem"}].
    sa.Column("problems_json", sa.Text, nullable=False, server_default="[]"),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("finished_ms", sa.BigInteger, nullable=True),
    sa.Index(None, "tenant_id", "created_ms", "id"),
)
