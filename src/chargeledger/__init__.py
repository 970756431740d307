"""chargeledger: EV charge sessions behind a re.alto-compatible Charge Sessions API."""

__version__ = "0.1.0"
