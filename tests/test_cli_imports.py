"""`duckmesh --help` stays fast: the CLI group imports no heavy library, and its static
command table (names, modules, short help) matches the real commands."""

from __future__ import annotations

import subprocess
import sys

import click
from click.testing import CliRunner

from federation.cli import COMMANDS, cli, load_command

HEAVY = ("duckdb", "pyarrow", "sqlglot", "pydantic", "polars", "pandas", "pyiceberg", "rich",
         "jsonschema", "yaml", "federation.mesh", "products")


def _imported_after(code: str) -> list[str]:
    probe = (f"{code}\nimport sys\n"
             f"print('loaded:', *(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True)
    return out.stdout.splitlines()[-1].split()[1:]


def test_import_cli_loads_no_heavy_library() -> None:
    assert _imported_after("import federation.cli") == []


def test_help_and_version_load_no_heavy_library() -> None:
    for args in ("['--help']", "['--version']"):
        code = ("import federation.cli as c\n"
                f"try:\n    c.cli.main({args}, prog_name='duckmesh')\n"
                "except SystemExit:\n    pass")
        assert _imported_after(code) == [], args


def test_public_api_is_still_importable_lazily() -> None:
    assert _imported_after("import federation") == []
    code = "from federation import Mesh, Result\nassert Mesh.__name__ == 'Mesh'"
    assert "federation.mesh" in _imported_after(code)


def test_table_matches_the_real_commands() -> None:
    for name, (module, _, short) in COMMANDS.items():
        command = load_command(name)
        assert command.name == name, f"{module}: {command.name!r} registered as {name!r}"
        assert command.get_short_help_str(limit=10_000) == short, (
            f"COMMANDS[{name!r}] short help differs from the command's own; copy it: "
            f"{command.get_short_help_str(limit=10_000)!r}")


def test_every_command_module_is_in_the_table() -> None:
    """A command defined in federation/cli but missing from COMMANDS would be unreachable."""
    import pkgutil

    import federation.cli as package

    registered = {(module, attribute) for module, attribute, _ in COMMANDS.values()}
    modules = [__import__(info.name, fromlist=["_"])
               for info in pkgutil.iter_modules(package.__path__, "federation.cli.")
               if not info.name.endswith("__main__")]  # that one runs the CLI
    # Subcommands of a group (wherever they are defined) are reached through the group.
    nested = {id(sub) for module in modules for value in vars(module).values()
              if isinstance(value, click.Group) for sub in value.commands.values()}
    top_level = [(module.__name__, attribute) for module in modules
                 for attribute, value in vars(module).items()
                 if isinstance(value, click.Command) and id(value) not in nested
                 and getattr(value.callback, "__module__", None) == module.__name__]
    assert ("federation.cli.query", "query") in top_level  # the check sees commands
    missing = [f"{module}.{attribute}" for module, attribute in top_level
               if (module, attribute) not in registered]
    assert missing == [], f"add these to federation.cli.COMMANDS: {missing}"


def test_help_lists_every_command_with_its_short_help() -> None:
    out = CliRunner().invoke(cli, ["--help"], terminal_width=200)
    assert out.exit_code == 0, out.output
    for name, (_, _, short) in COMMANDS.items():
        assert f"  {name}" in out.output
        assert short[:30] in out.output


def test_unknown_command_is_one_line_and_exit_1() -> None:
    proc = subprocess.run([sys.executable, "-m", "federation.cli", "no-such-command"],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.startswith("duckmesh: error: No such command")
    assert len(proc.stderr.strip().splitlines()) == 1


def test_the_query_path_imports_no_storage_client_it_does_not_use() -> None:
    """pyiceberg (Iceberg products only) and aiohttp (remote storage only) cost a third
    of a second each at start-up; a local Parquet query needs neither."""
    code = ("import federation.cli.query, federation.mesh, sys\n"
            "print('loaded:', *(m for m in ('aiohttp', 'pyiceberg', 's3fs') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["loaded:"]


def test_storage_errors_name_the_classes_of_every_storage_library_once_loaded() -> None:
    """Naming only the libraries already imported is complete: an exception class exists
    only once its library is imported."""
    code = """
import sys
from connectors.filesystems import cut_short_errors, storage_errors
assert 'aiohttp' not in sys.modules and storage_errors() == (OSError,), storage_errors()
import aiohttp, botocore.exceptions
try:
    raise aiohttp.ClientPayloadError('body cut short')
except storage_errors():
    pass
try:
    raise botocore.exceptions.ConnectTimeoutError(endpoint_url='http://x')
except storage_errors():
    pass
assert aiohttp.ServerDisconnectedError in cut_short_errors()
assert botocore.exceptions.IncompleteReadError in cut_short_errors()
from connectors.filesystems import STORAGE_ERRORS
assert STORAGE_ERRORS == storage_errors()
print('ok')
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "ok", out.stderr
