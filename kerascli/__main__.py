from kerascli.cli.app import main

main()
