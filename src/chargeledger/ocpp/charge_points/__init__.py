"""OCPP 1.6J and 2.0.1 charge points, spoken to over the app's own WebSocket route with the
`ocpp` package. Handlers validate, store and answer; sessions are computed after the answer."""
