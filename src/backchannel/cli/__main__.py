from backchannel.cli.main import app

app()
