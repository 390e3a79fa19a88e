from hznctl.cli.main import run

run()
