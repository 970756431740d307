"""Pure domain code: no database, clock or network. Everything here is deterministic."""
