"""The shell's parts without a terminal: splitting input, completion, dot-commands, the
session's governance and audit, and one interactive run through a prompt_toolkit pipe."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput

from federation import Mesh
from federation.shell.complete import Names, candidates, names_for
from federation.shell.dot import Quit, run_dot
from federation.shell.repl import interactive, prompt_session, run_script
from federation.shell.session import Session
from federation.shell.split import Unit, complete, split

# -- splitting ----------------------------------------------------------------------------


def test_semicolons_in_strings_names_and_comments_end_nothing() -> None:
    units, rest = split("SELECT ';' AS \"a;b\"; -- not; here\n/* nor; here */ SELECT 2;")
    assert units == [Unit("sql", "SELECT ';' AS \"a;b\""),
                     Unit("sql", "-- not; here\n/* nor; here */ SELECT 2")]
    assert rest == ""


def test_semicolons_in_dollar_quoted_strings_end_nothing() -> None:
    """DuckDB's tokenizer, not sqlglot's generic one: that read `$$a;b$$` as two words."""
    units, rest = split("SELECT $$a;b$$ AS s; SELECT $t$x;$$;y$t$;\nSELECT 2")
    assert units == [Unit("sql", "SELECT $$a;b$$ AS s"), Unit("sql", "SELECT $t$x;$$;y$t$")]
    assert rest == "\nSELECT 2"
    assert not complete("SELECT $$a;")


def test_dot_commands_run_at_line_start_even_after_a_comment() -> None:
    units, rest = split("SELECT 1; -- done\n.mode csv\n  .timer on\nSELECT 2")
    assert [u.kind for u in units] == ["sql", "dot", "dot"]
    assert units[1].text == ".mode csv" and rest == "SELECT 2"


def test_an_open_string_waits_for_more_input() -> None:
    units, rest = split("SELECT 1; SELECT 'it''s; still open")
    assert units == [Unit("sql", "SELECT 1")] and rest.startswith(" SELECT 'it")
    assert not complete("SELECT 'a;")
    assert complete("SELECT 'a;';") and complete(".help") and complete("  ")
    assert not complete("SELECT 1 -- ;")


def test_comment_only_input_is_no_statement() -> None:
    assert split("-- nothing\n/* at all */;\n") == ([], "")


# -- completion ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ana_names(mesh: Mesh) -> Names:
    return names_for(mesh, "ana")


def test_completion_offers_only_what_the_caller_may_use(ana_names: Names) -> None:
    assert "meta.audit" not in ana_names.products  # ana has no grant for the audit log
    assert "passport_number" not in ana_names.products["customers.profiles"]  # hidden
    assert "email" in ana_names.products["customers.profiles"]  # masked, still usable
    assert candidates(ana_names, "SELECT * FROM cust") == ["customers.", "customer_id"]
    assert candidates(ana_names, "SELECT * FROM customers.pro") == ["customers.profiles"]
    assert candidates(ana_names, "SELECT * FROM meta.au") == []
    assert "passport_number" not in candidates(ana_names, "SELECT pass")
    assert candidates(ana_names, "SELECT * FROM payments.transactions WHERE card_") == \
        ["card_brand"]  # card_number is denied to ana


def test_completion_of_aliases_functions_keywords_and_dot_commands(ana_names: Names) -> None:
    found = candidates(ana_names, "SELECT c.lo FROM customers.profiles c WHERE 1 = 1 AND c.lo")
    assert found == ["c.loyalty_tier"]
    assert "date_trunc(" in candidates(ana_names, "SELECT date_tr")
    assert "GROUP BY" in candidates(ana_names, "SELECT 1 GRO")
    assert candidates(ana_names, ".sch") == [".schema"]
    assert candidates(ana_names, ".schema pay") == ["payments."]


# -- dot-commands and the session ---------------------------------------------------------


def test_schema_shows_each_decision(mesh: Mesh, capsys: pytest.CaptureFixture[str]) -> None:
    run_dot(Session(mesh, "ana"), ".schema customers.profiles")
    out = capsys.readouterr().out
    assert "customers.profiles as ana sees it; rows filtered: region = 'EU'" in out
    assert "passport_number" in out and "deny" in out and "mask (hash)" in out


def test_unknown_dot_command_and_mode_suggest(mesh: Mesh) -> None:
    from federation.errors import UsageError

    session = Session(mesh, "ana")
    with pytest.raises(UsageError, match=r"unknown command \.shema; did you mean \.schema"):
        run_dot(session, ".shema customers.profiles")
    with pytest.raises(UsageError, match="unknown mode 'jsn'; did you mean json"):
        run_dot(session, ".mode jsn")
    run_dot(session, ".mode markdown")
    assert session.mode == "markdown"
    with pytest.raises(Quit):
        run_dot(session, ".quit")


def test_output_timer_and_modes(mesh: Mesh, tmp_path: Path,
                                capsys: pytest.CaptureFixture[str]) -> None:
    session = Session(mesh, "ana")
    target = tmp_path / "out.csv"
    for line in (".mode csv", f".output {target}", ".timer on"):
        session.run(Unit("dot", line))
    session.run(Unit("sql", "SELECT 1 AS a, 'x' AS b"))
    session.run(Unit("dot", ".output"))
    session.run(Unit("dot", ".mode line"))
    session.run(Unit("sql", "SELECT 2 AS a"))
    captured = capsys.readouterr()
    assert target.read_text().splitlines() == ['"a","b"', '1,"x"']
    assert captured.out.strip() == "a = 2"
    assert captured.err.count("Run Time: ") == 2
    assert session.exit_code == 0


def test_each_statement_is_governed_and_audited_once(demo_copy: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    mesh = Mesh.open(demo_copy)
    session = Session(mesh, "ana", mode="json")
    for unit in split("SELECT email FROM customers.profiles LIMIT 2;\n"
                      "SELECT card_number FROM payments.transactions;\n"
                      ".schema customers.profiles\nSELECT 1 AS one;")[0]:
        session.run(unit)
    captured = capsys.readouterr()
    rows = json.loads(captured.out.split("\n]\n")[0] + "\n]")
    assert all(len(r["email"]) == 32 and "@" not in r["email"] for r in rows)  # masked
    assert "ask finance-team: `duckmesh access request payments.transactions --columns " \
           "card_number --purpose PURPOSE --reason TEXT`" in captured.err
    assert session.exit_code == 3
    records = list(mesh.audit.records())
    assert [(r["user"], r["outcome"]) for r in records] == [
        ("ana", "ok"), ("ana", "denied"), ("ana", "ok")]


def test_piped_statements_run_in_a_real_process(demo_root: Path) -> None:
    script = "SELECT 40 + 2 AS answer;\n.mode csv\nSELECT 'a;b' AS s\n"
    proc = subprocess.run([sys.executable, "-m", "federation.cli", "--mesh", str(demo_root),
                           "shell", "-u", "ana"], input=script, capture_output=True, text=True,
                          timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "answer" in proc.stdout and "42" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-2:] == ['"s"', '"a;b"']


def test_run_script_stops_at_quit(mesh: Mesh, capsys: pytest.CaptureFixture[str]) -> None:
    import io

    session = Session(mesh, "ana", mode="csv")
    code = run_script(session, io.StringIO("SELECT 1 AS a;\n.quit\nSELECT 2 AS b;\n"))
    assert code == 0 and capsys.readouterr().out.splitlines() == ['"a"', "1"]


def test_interactive_multiline_history_and_quit(mesh: Mesh, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    """Keys through a pipe: a statement over two lines runs once its ';' is typed, a
    dot-command at once, and both land in the history file."""
    history = tmp_path / "state" / "history"
    session = Session(mesh, "ana", mode="csv")
    with create_pipe_input() as pipe:
        pipe.send_text("SELECT 6 * 7\r AS answer;\r.mode line\rSELECT 1 AS one;\r.quit\r")
        prompt = prompt_session(session, history, input=pipe, output=DummyOutput())
        assert interactive(session, prompt) == 0
    out = capsys.readouterr().out
    assert '"answer"\n42\n' in out and "one = 1" in out
    saved = history.read_text()
    assert "SELECT 6 * 7" in saved and ".mode line" in saved
    assert history.stat().st_mode & 0o777 == 0o600


def test_the_completer_replaces_the_word_before_the_cursor(ana_names: Names) -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from federation.shell.complete import MeshCompleter

    completer = MeshCompleter(ana_names)
    found = list(completer.get_completions(Document("SELECT * FROM customers.pro"),
                                           CompleteEvent()))
    assert [(c.text, c.start_position) for c in found] == [("customers.profiles", -13)]
    dots = list(completer.get_completions(Document(".ti"), CompleteEvent()))
    assert [(c.text, c.start_position) for c in dots] == [(".timer", -3)]


def test_ctrl_c_cancels_the_running_query_not_the_shell(demo_copy: Path) -> None:
    import signal
    import time

    big = ("SELECT count(*) FROM flights.schedule a, flights.schedule b, "
           "flights.schedule c")
    proc = subprocess.Popen([sys.executable, "-m", "federation.cli", "--mesh", str(demo_copy),
                             "shell", "-u", "adam", "--mode", "csv"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(f"{big};\nSELECT 42 AS after;\n")
    proc.stdin.close()
    proc.stdin = None
    mesh = Mesh.open(demo_copy)
    # The query's audit record is written as it starts: then it is running.
    for _ in range(600):
        if any(r["sql"] == big for r in mesh.audit.records()):
            break
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert err == "duckmesh: error: query cancelled (Ctrl-C)\n"
    assert out.splitlines() == ['"after"', "42"]  # the shell went on
    assert proc.returncode == 130
    outcomes = {r["sql"]: r["outcome"] for r in Mesh.open(demo_copy).audit.records()}
    assert outcomes == {big: "interrupted", "SELECT 42 AS after": "ok"}


def test_an_unexpected_failure_ends_the_statement_not_the_shell(
        mesh: Mesh, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "gone"
    folder.mkdir()
    session = Session(mesh, "ana", mode="csv")
    session.run(Unit("dot", f".output {folder / 'out.csv'}"))
    folder.rmdir()  # the output file can no longer be opened
    session.run(Unit("sql", "SELECT 1 AS a"))
    session.run(Unit("dot", ".output"))
    session.run(Unit("sql", "SELECT 2 AS b"))
    captured = capsys.readouterr()
    assert captured.err == "duckmesh: error: internal error (FileNotFoundError)\n"
    assert captured.out.splitlines() == ['"b"', "2"] and session.exit_code == 1
