from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.nn"))


@pytest.fixture
def compile_text(tmp_path):
    """Compile spec text written to a file in a temporary folder; returns the Compiled result
    or raises CompileError."""
    from nnc.compiler.pipeline import compile_file

    def run(text: str, name: str = "spec.nn", overrides=()):
        path = tmp_path / name
        path.write_text(text)
        return compile_file(path, overrides)

    return run
