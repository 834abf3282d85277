"""Did-you-mean for the command line: an unknown command names the nearest ones.

click already suggests the nearest option for an unknown ``--option``; for commands it
only says "No such command".  :class:`SuggestingGroup` adds the suggestion.  This module
imports click and the standard library only: ``duckmesh --help`` stays light.
"""

from __future__ import annotations

import difflib

import click


def nearest(word: str, candidates: list[str], n: int = 3) -> list[str]:
    """The ``candidates`` closest to ``word`` (a typo, a missing letter), best first."""
    return difflib.get_close_matches(word, candidates, n=n, cutoff=0.6)


class SuggestingGroup(click.Group):
    """A click group whose "No such command" error names the nearest commands."""

    def resolve_command(self, ctx: click.Context,
                        args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        """As click's, with a did-you-mean for an unknown command name."""
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError:
            name = args[0] if args else ""
            close = nearest(name, self.list_commands(ctx)) if name else []
            if not close:
                raise
            choices = " or ".join(repr(c) for c in close)
            raise click.UsageError(f"No such command {name!r}. Did you mean {choices}?",
                                   ctx) from None

