from govops.cli.app import run

run()
