"""``python -m federation.cli``: the same as the ``duckmesh`` console script."""

from federation.cli import main

main()
