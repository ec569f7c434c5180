from optsync.cli.main import main

main()
