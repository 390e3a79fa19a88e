from hznctl.cli.main import main

main()
