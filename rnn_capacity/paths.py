"""Where the files shipped beside the package (``configs/``, ``data/``) live.

In a source checkout or an editable install they are the repository's top-level folders;
a regular ``pip install .`` copies them to ``<prefix>/share/rnn_capacity/`` (setup.cfg's
``data_files``).
"""

from __future__ import annotations

import sys
from pathlib import Path


def shipped(name: str) -> Path:
    """The folder ``name`` of the checkout if there is one, else the installed copy."""
    root = Path(__file__).resolve().parents[1]
    if (root / "setup.cfg").is_file() and (root / name).is_dir():  # not site-packages/<name>
        return root / name
    return Path(sys.prefix) / "share" / "rnn_capacity" / name
