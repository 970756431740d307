"""Statements: what each driver is owed for a period (drafts, finalised statements,
adjustments), the tenant's policy of what counts, statement runs and their exports."""
