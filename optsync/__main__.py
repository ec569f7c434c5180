from optsync.cli.fast import main

main()
