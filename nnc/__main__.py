from nnc.cli import run

run()
