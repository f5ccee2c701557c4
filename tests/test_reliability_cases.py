"""The minimal specs that once broke `nnc check` (../shared/reliability-cases, beside the
repository): each ends within seconds and a bounded amount of memory, in success or located
diagnostics — never an internal error, a hang or a blow-up."""

import resource
import subprocess
import sys

import pytest
from conftest import ROOT

CASES = sorted((ROOT.parent / "shared" / "reliability-cases").glob("*.nn"))
MEMORY = 2 * 2**30  # bytes of address space a check may use


def limited():
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))


@pytest.mark.skipif(not CASES, reason="../shared/reliability-cases is not beside the repository")
@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_each_case_ends_quickly_in_success_or_located_diagnostics(case):
    done = subprocess.run(
        [sys.executable, "-m", "nnc", "check", str(case)],
        capture_output=True,
        timeout=30,
        preexec_fn=limited,
    )
    err = done.stderr.decode("utf-8", errors="replace")
    assert done.returncode in (0, 3), err
    assert "internal error" not in err and "Traceback" not in err
    errors = [line for line in err.splitlines() if "error[" in line]
    assert done.returncode == 0 or errors
    for line in errors:  # every one at a place in the spec: path:line:column
        where = line.split(": error[")[0]
        assert where.rsplit(":", 2)[-2:][0].isdigit() and where.rsplit(":", 1)[-1].isdigit(), line
