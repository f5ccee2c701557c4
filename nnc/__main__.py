from nnc.cli import main

main()
