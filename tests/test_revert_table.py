"""The revert table (``python -m devtools.revert_table``) cannot rot silently.

The default run checks that every row's mutations still apply to the tree as it is
now (each ``old`` text present exactly once, the file changed and still parsing)
and that every test a row names exists: a fix that moved makes this fail, and its
row is then refreshed in ``devtools/reverts.json``. The ``soak`` run reverts every
fix in turn and checks that some test catches each one.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from devtools import revert_table
from devtools.revert_table import (
    ROOT,
    Mutation,
    MutationError,
    Outcome,
    Row,
    apply_mutations,
    load_rows,
    missing_tests,
    mutation_problems,
    render_table,
    run_table,
)

ROWS = load_rows()


def test_the_table_has_rows_with_distinct_names() -> None:
    assert len(ROWS) >= 30
    assert len({row.name for row in ROWS}) == len(ROWS)


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_every_mutation_still_applies(row: Row) -> None:
    """If this fails, the fix moved: find where it lives now and refresh the row's
    ``old`` (and ``new``) in devtools/reverts.json, then run the row
    (``python -m devtools.revert_table --row ...``) to see it caught."""
    assert mutation_problems(ROOT, row) == []
    assert missing_tests(ROOT, row) == []


def one_row(file: str, old: str, new: str, tests: tuple[str, ...] = ("tests/t.py",)) -> Row:
    return Row(name="a row", mutations=(Mutation(file, old, new),), tests=tests)


def test_a_mutation_whose_text_is_gone_or_repeated_does_not_apply(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("x = 1\nx = 1\ny = 2\n")
    assert mutation_problems(tmp_path, one_row("m.py", "y = 2\n", "y = 3\n")) == []
    assert mutation_problems(tmp_path, one_row("m.py", "z = 2", "z = 3")) == [
        "mutation 1: its old text is not in m.py"
    ]
    assert mutation_problems(tmp_path, one_row("m.py", "x = 1", "x = 2")) == [
        "mutation 1: its old text occurs 2 times in m.py"
    ]
    assert mutation_problems(tmp_path, one_row("gone.py", "x", "y")) == [
        "mutation 1: no file gone.py"
    ]
    with pytest.raises(MutationError, match=r"not in m\.py"):
        apply_mutations(tmp_path, one_row("m.py", "z = 2", "z = 3"))
    assert (tmp_path / "m.py").read_text() == "x = 1\nx = 1\ny = 2\n"


def test_a_mutation_that_only_breaks_the_syntax_is_refused(tmp_path: Path) -> None:
    """Any test would fail on it: it would say nothing about the tests."""
    (tmp_path / "m.py").write_text("if ready:\n    go()\n")
    problems = mutation_problems(tmp_path, one_row("m.py", "if ready:", "if ready"))
    assert len(problems) == 1
    assert "does not parse once mutated" in problems[0]


def test_mutations_apply_in_order(tmp_path: Path) -> None:
    (tmp_path / "m.py").write_text("a = 1\n")
    row = Row(
        name="two steps",
        mutations=(Mutation("m.py", "a = 1", "a = 2"), Mutation("m.py", "a = 2", "a = 3")),
        tests=("tests/t.py",),
    )
    apply_mutations(tmp_path, row)
    assert (tmp_path / "m.py").read_text() == "a = 3\n"


def test_a_test_that_does_not_exist_is_reported(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "t.py").write_text("def test_here() -> None:\n    pass\n")
    row = one_row("m.py", "a", "b", ("tests/t.py::test_here[x]", "tests/t.py::test_gone"))
    assert missing_tests(tmp_path, row) == ["no test test_gone in tests/t.py"]
    assert missing_tests(tmp_path, one_row("m.py", "a", "b", ("tests/u.py",))) == [
        "no test file tests/u.py"
    ]


def test_the_rows_file_is_checked_for_shape(tmp_path: Path) -> None:
    rows_file = tmp_path / "reverts.json"
    rows_file.write_text('[{"row": "r", "mutations": [], "tests": ["tests/t.py"]}]')
    with pytest.raises(ValueError, match="has no mutations"):
        load_rows(rows_file)
    rows_file.write_text(
        '[{"row": "r", "mutations": [{"file": "f", "old": "a", "new": "b"}], '
        '"tests": ["tests/t.py"], "test": "typo"}]'
    )
    with pytest.raises(ValueError, match="unknown keys"):
        load_rows(rows_file)


def test_a_row_may_be_one_revert_mutation_written_flat(tmp_path: Path) -> None:
    rows_file = tmp_path / "reverts.json"
    rows_file.write_text(
        '[{"row": "Item 1: r", "file": "src/f.py", "old": "a", "new": "b", '
        '"test": "tests/t.py::test_r"}]'
    )
    assert load_rows(rows_file) == [
        Row("Item 1: r", (Mutation("src/f.py", "a", "b"),), ("tests/t.py::test_r",))
    ]


def test_the_table_says_what_caught_each_row_and_what_did_not() -> None:
    caught = Outcome(
        one_row("src/m.py", "a", "b"), revert_table.CAUGHT, ["`t.py::test_x`"], seconds=3.2
    )
    missed = Outcome(
        one_row("src/m.py", "c", "d"), revert_table.UNCAUGHT, detail="every test passed"
    )
    table = render_table([caught, missed])
    assert "| a row | `m.py`: `a` → `b` | `t.py::test_x` | caught (3 s) |" in table
    assert "| a row | `m.py`: `c` → `d` | every test passed | NOT CAUGHT (0 s) |" in table
    assert "1 of 2 rows caught" in table


def test_the_simulations_seeds_are_shown_and_cases_merged() -> None:
    message = (
        "seed 7 broke ...\n\n118 of 300 seeds failed:\n"
        "  at_most_one_live_socket: 40 seeds (e.g. 7, 9, 12)\n"
        "  disconnected_means_no_socket: 78 seeds (e.g. 3, 4)"
    )
    assert revert_table._caught_by("tests/simulation/test_simulation.py::test_seeds", message) == (
        "`simulation/test_simulation.py::test_seeds` (118 of 300 seeds: "
        "at_most_one_live_socket e.g. seed 7, disconnected_means_no_socket e.g. seed 3)"
    )
    assert revert_table._collapse(["`t.py::test_a[1]`", "`t.py::test_a[2]`", "`t.py::b`"]) == [
        "`t.py::test_a[1, 2]`",
        "`t.py::b`",
    ]


@pytest.mark.soak
@pytest.mark.timeout(3600)
def test_every_reverted_fix_is_caught() -> None:
    """Every row, one at a time: some test fails with its fix reverted."""
    outcomes = run_table(ROWS)
    table = render_table(outcomes)
    print(table)
    assert [outcome.row.name for outcome in outcomes if not outcome.ok] == [], table
