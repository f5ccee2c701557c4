"""A few rounds of bench/kill_resume.py: runs killed (SIGKILL) or interrupted (Ctrl-C) at random
moments, one of them in the window between its last checkpoint and its final files, resume to
weights bit-identical to an uninterrupted run's, and no file is ever torn. The long version
(`python bench/kill_resume.py --count 100`) is described in docs/reliability.md."""

import sys

from conftest import ROOT


def test_killed_runs_lose_nothing_and_finish_bit_identical(tmp_path):
    sys.path.insert(0, str(ROOT / "bench"))
    from kill_resume import rounds

    tally = rounds(count=3, seed=1, folder=tmp_path)
    assert tally["kills"] + tally["interrupts"] >= 3
    assert tally["torn files"] == 0 and tally["different"] == 0, tally
