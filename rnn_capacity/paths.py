"""Where the files shipped beside the package (``configs/``, ``data/``) live.

In a source checkout or an editable install they are the repository's top-level folders;
a regular ``pip install .`` copies them to ``<prefix>/share/rnn_capacity/`` (setup.cfg's
``data_files``), where the prefix is the environment's, the user's (``--user``) or the
one given to ``--prefix``.
"""

from __future__ import annotations

import site
import sys
from pathlib import Path


def shipped(name: str) -> Path:
    """The folder ``name`` of the checkout if there is one, else the installed copy."""
    here = Path(__file__).resolve()
    root = here.parents[1]
    if (root / "setup.cfg").is_file() and (root / name).is_dir():  # not site-packages/<name>
        return root / name
    # <prefix>/lib/pythonX.Y/site-packages/rnn_capacity/paths.py -> <prefix>
    # (a shallow path has no 4th parent: the other prefixes remain)
    tree = [here.parents[4]] if len(here.parents) > 4 else []
    prefixes = [Path(sys.prefix), *tree, Path(site.USER_BASE or sys.prefix)]
    installed = [p / "share" / "rnn_capacity" / name for p in prefixes]
    return next((p for p in installed if p.is_dir()), installed[0])
