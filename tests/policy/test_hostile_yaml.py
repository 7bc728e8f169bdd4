"""Hostile policy files: each limit of the policy reader refused with its code and the line."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from credence.cli import app
from credence.errors import PolicyError
from credence.policy import load
from credence.policy.load import MAX_BYTES, MAX_DEPTH, MAX_NODES, load_policy, loads_policy


def billion_laughs() -> str:
    """The classic: nine levels of nine aliases each, 10⁹ strings from about 350 bytes."""
    text = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        text += f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]\n"
    return text


def problems(text: str, name: str = "p.yaml") -> list[tuple[str, str]]:
    """The problems that reading ``text`` raises."""
    with pytest.raises(PolicyError) as caught:
        loads_policy(text, name)
    return caught.value.problems


def _capped() -> None:
    """Run the child with at most 2 GiB of address space, so a regression fails, not swaps."""
    resource.setrlimit(resource.RLIMIT_AS, (2 * 2**30, 2 * 2**30))


def lint_in_a_process(path: Path) -> subprocess.CompletedProcess[str]:
    """``credence policy lint PATH`` as a user runs it, in its own capped process."""
    return subprocess.run(
        [str(Path(sys.executable).with_name("credence")), "policy", "lint", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_capped,
        check=False,
    )


def test_billion_laughs_is_refused_at_its_first_alias_by_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(billion_laughs())
    assert path.stat().st_size < 400
    done = lint_in_a_process(path)
    assert done.returncode == 2, done.stderr
    assert "MemoryError" not in done.stderr and "Traceback" not in done.stderr
    assert f"{path}:2:8: CR102 error: YAML aliases are not allowed in a policy (*a)" in (
        done.stderr.replace("\n", "")
    )


def test_a_hundred_thousand_brackets_stop_at_the_depth_limit_in_the_cli(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("[" * 100_000)
    done = lint_in_a_process(path)
    assert done.returncode == 2, done.stderr
    assert "RecursionError" not in done.stderr and "Traceback" not in done.stderr
    assert f"{path}:1:{MAX_DEPTH + 1}: CR103 error: nested deeper than 64 levels" in (
        done.stderr.replace("\n", "")
    )


def test_deep_block_mappings_stop_at_the_depth_limit_on_their_line() -> None:
    text = "".join(f"{' ' * i}k{i}:\n" for i in range(200)) + " " * 200 + "x\n"
    [(where, message)] = problems(text)
    assert where == f"p.yaml:{MAX_DEPTH}:{MAX_DEPTH}"
    assert message == "CR103 error: nested deeper than 64 levels"


def test_an_alias_anywhere_is_refused_even_a_harmless_one() -> None:
    text = "id: &name city\ntitle: *name\nversion: '1'\n"
    assert problems(text) == [
        (
            "p.yaml:2:8",
            "CR102 error: YAML aliases are not allowed in a policy (*name): "
            "write the value out where it is needed",
        )
    ]


def test_a_merge_key_is_an_alias_and_refused() -> None:
    text = "base: &b {x: 1}\nrule:\n  <<: *b\n"
    [(where, message)] = problems(text)
    assert where == "p.yaml:3:7" and message.startswith("CR102 error")


def test_too_many_nodes_are_refused_within_the_size_limit() -> None:
    text = "[" + ",".join(["1"] * (MAX_NODES + 10)) + "]"
    assert len(text) < MAX_BYTES
    [(where, message)] = problems(text)
    assert where == f"p.yaml:1:{2 * MAX_NODES}"
    assert message == f"CR104 error: more than {MAX_NODES} YAML nodes"


def test_a_file_over_the_size_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("# padding\n" * (MAX_BYTES // 10 + 1))
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.problems == [
        (
            f"{path}:1:1",
            f"CR101 error: the file is {path.stat().st_size} bytes, more than the limit of "
            f"{MAX_BYTES} bytes for a policy",
        )
    ]
    text = "x: 1\n" * (MAX_BYTES // 5 + 1)
    [(where, message)] = problems(text)
    assert where == f"p.yaml:{MAX_BYTES // 5 + 1}:1"  # the line the limit falls on
    assert message.startswith(f"CR101 error: the file is {len(text)} bytes")


def test_the_cli_lint_prints_the_limit_error_with_exit_code_2(tmp_path: Path) -> None:
    path = tmp_path / "alias.yaml"
    path.write_text("id: &x a\ntitle: *x\n")
    result = CliRunner().invoke(app, ["policy", "lint", str(path)])
    assert result.exit_code == 2
    assert "alias.yaml:2:8: CR102 error" in result.output.replace("\n", "")


def test_every_bundled_policy_reads_within_the_limits() -> None:
    from credence.policy import library

    for name in library.names():
        library.resolve(name)  # raises PolicyError if a limit refused a real policy
    assert set(load.LIMIT_CODES) == {"CR101", "CR102", "CR103", "CR104"}


def test_a_file_that_is_not_utf8_names_the_line_and_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"id: city\ntitle: caf\xe9\n")
    with pytest.raises(PolicyError) as caught:
        load_policy(path)
    assert caught.value.problems == [
        (f"{path}:2:11", "not UTF-8 text: byte 19 (invalid continuation byte)")
    ]


_KEYS = st.sampled_from(
    [
        "id",
        "version",
        "versions",
        "rules",
        "credits",
        "tests",
        "kind",
        "remove_rules",
        "effective_from",
        "title",
        "points",
        "expires_after",
        "legal_basis",
        "bands",
    ]
)
_LEAF = st.one_of(
    st.none(), st.integers(), st.booleans(), st.dates(), st.sampled_from(["a", "P1Y", "-1"])
)
_DATA = st.recursive(
    _LEAF,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(_KEYS, inner, max_size=5)),
    max_leaves=30,
)
_VERSION = st.dictionaries(_KEYS, _DATA, max_size=6)
_FILE = st.builds(
    lambda head, versions: {**head, "versions": versions},
    st.dictionaries(_KEYS, _DATA, max_size=4),
    st.lists(_VERSION, max_size=4),
)
_TOKENS = st.sampled_from(
    [*"[]{}:,-&*!|>'\"#? \n\tab1.%@`<=", "id", "versions", "rules", "<<", "&a", "*a"]
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(_FILE, _VERSION))
def test_any_mapping_is_read_or_refused_with_problems_never_a_crash(data: object) -> None:
    try:
        loads_policy(yaml.safe_dump(data))
    except PolicyError as exc:
        assert exc.problems and all(isinstance(m, str) for _, m in exc.problems)


@settings(max_examples=300, deadline=None)
@given(st.lists(_TOKENS, max_size=60).map("".join))
def test_any_text_is_read_or_refused_with_problems_never_a_crash(text: str) -> None:
    try:
        loads_policy(text)
    except PolicyError as exc:
        assert exc.problems
