from nnc.compiler.cli import main

main()
