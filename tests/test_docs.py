"""docs/language.md and docs/data.md stay true: every ```nn example checks (those in files named
bad_* fail with diagnostics), and every ```console block's output, with `...` eliding lines, is
what `nnc` prints today. A block whose first line is `# file: PATH` is written to PATH."""

import re
import shlex

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ROOT

from nnc.cli import EXIT_SPEC_ERROR, main

DOC = (ROOT / "docs" / "language.md").read_text()
BLOCKS = re.findall(r"```(\w+)\n(.*?)```", DOC, re.S)


def write_data(folder):
    """The data files the examples name, with one sample each: `nnc check` reads their headers
    and array names (and refuses an empty file), so they must fit the examples' inputs."""
    header = ",".join([*(f"p{i}" for i in range(64)), "label"])
    for name in ("digits_train.csv", "digits_test.csv"):
        (folder / name).write_text(header + "\n" + ",".join(["0"] * 65) + "\n")
    arrays = {"pixels": np.zeros((1, 64), np.float32), "extra": np.zeros((1, 3), np.float32)}
    arrays["label"] = np.zeros(1, np.int64)
    for name in ("train.npz", "test.npz"):
        np.savez(folder / name, **arrays)
    for name, key in (("x.npy", "pixels"), ("extra.npy", "extra"), ("y.npy", "label")):
        np.save(folder / name, arrays[key])


@pytest.fixture
def examples(tmp_path, monkeypatch):
    """All the doc's specs written into a folder, which becomes the working directory."""
    (tmp_path / "data").mkdir()
    write_data(tmp_path / "data")  # present, so W401 stays out of the output
    specs = []
    for i, (lang, body) in enumerate(BLOCKS):
        if lang != "nn":
            continue
        named = re.match(r"# file: (\S+)", body)
        name = named.group(1) if named else f"example_{i:02d}.nn"
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
        if not name.startswith("lib/"):  # imported libraries are checked through their importers
            specs.append(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    return specs


def _matches(expected: list[str], actual: list[str]) -> bool:
    i = j = 0
    while i < len(expected):
        if expected[i] == "...":
            i += 1
            if i == len(expected):
                return True
            while j < len(actual) and actual[j] != expected[i]:
                j += 1
            if j == len(actual):
                return False
        if j >= len(actual) or expected[i] != actual[j]:
            return False
        i, j = i + 1, j + 1
    return j == len(actual)


def test_the_doc_has_examples():
    assert sum(lang == "nn" for lang, _ in BLOCKS) >= 10
    assert sum(lang == "console" for lang, _ in BLOCKS) >= 5


def test_every_example_checks(examples):
    for name in examples:
        result = CliRunner().invoke(main, ["check", name])
        expected = EXIT_SPEC_ERROR if name.startswith("bad") else 0
        assert result.exit_code == expected, f"{name}:\n{result.output}"


def _shows_real_output(blocks) -> None:
    for lang, body in blocks:
        if lang != "console":
            continue
        command, *expected = body.rstrip("\n").splitlines()
        args = shlex.split(command.removeprefix("$ "))
        assert args[0] == "nnc"
        result = CliRunner().invoke(main, args[1:])
        actual = [line.rstrip() for line in result.output.rstrip("\n").splitlines()]
        assert _matches([line.rstrip() for line in expected], actual), f"{command}\n{result.output}"


def test_every_console_block_shows_real_output(examples):
    _shows_real_output(BLOCKS)


def test_the_data_page_examples_check_and_its_console_is_real(tmp_path, monkeypatch):
    """docs/data.md's specs check as written, and its console blocks run on the shipped
    examples, from the repository root."""
    blocks = re.findall(r"```(\w+)\n(.*?)```", (ROOT / "docs" / "data.md").read_text(), re.S)
    specs = [body for lang, body in blocks if lang == "nn"]
    assert len(specs) >= 2 and any(lang == "console" for lang, _ in blocks)
    for body in specs:
        path = tmp_path / re.match(r"# file: (\S+)", body).group(1)
        path.write_text(body)
        result = CliRunner().invoke(main, ["check", str(path)])
        assert result.exit_code == 0, f"{path.name}:\n{result.output}"
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("NO_COLOR", "1")
    _shows_real_output(blocks)
