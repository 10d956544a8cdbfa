from sigctl.cli import main

main()
