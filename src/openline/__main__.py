"""``python -m openline`` is the ``openline`` command."""

from openline.cli import main

main()
