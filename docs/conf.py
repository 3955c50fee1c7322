"""Sphinx configuration of the rnn_capacity documentation.

Build (from the repository root, with the ``docs`` extra installed)::

    pip install -e ".[docs]"
    sphinx-build -W -b html docs docs/_build/html

The pages under ``docs/`` are Markdown (MyST) and reStructuredText; none includes
README.md, which is the short user's guide. Raw benchmark outputs the pages quote are under
``bench/results/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the checkout's package, installed or not

from rnn_capacity import __version__  # noqa: E402

project = "rnn_capacity"
author = "rnn_capacity developers"
copyright = "rnn_capacity developers"  # noqa: A001
release = version = __version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.mathjax",
    "sphinx-mathjax-offline",  # MathJax shipped with the pages: they render offline
    "sphinx.ext.viewcode",
    "myst_parser",
    "sphinxarg.ext",  # the CLI reference, generated from the parsers (docs/cli.md)
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
root_doc = "index"

# Google-style docstrings (Args:, Returns:, Examples:); no NumPy-style sections.
napoleon_google_docstring = True
napoleon_numpy_docstring = False
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_default_options = {"show-inheritance": True}
autoclass_content = "class"
# A member without a docstring of its own (training_step, ...) is not listed with
# Lightning's docstring.
autodoc_inherit_docstrings = False

# Headings become anchors (h1-h3), so sections can be linked to.
myst_heading_anchors = 3

html_theme = "alabaster"
html_title = f"rnn_capacity {release}"
html_theme_options = {
    "description": "Sequence-generation capacity of recurrent networks",
    "fixed_sidebar": True,
    "page_width": "1240px",
    "body_max_width": "none",  # the examples' lines are up to 92 characters
    "sidebar_width": "220px",
}
html_sidebars = {"**": ["about.html", "navigation.html", "relations.html", "searchbox.html"]}

# Quotes and ellipses only: "--" in a flag's help (``or --set p=P``) stays two hyphens,
# not an en dash.
smartquotes_action = "qe"
