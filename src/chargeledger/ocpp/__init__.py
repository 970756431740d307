"""OCPP: stations, transactions, meter evidence, and the charge points' WebSocket connections."""
