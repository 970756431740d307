from chargeledger.cli.main import app

app()
