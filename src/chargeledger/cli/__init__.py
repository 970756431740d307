"""The `chargeledger` command."""
