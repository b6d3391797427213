"""Sphinx configuration for fastlock's documentation (``make docs``)."""

import os
import sys

# Document the source tree: autodoc imports the package from here (with
# the compiled core when it was built in place, the twin otherwise).
sys.path.insert(0, os.path.abspath(".."))

project = "fastlock"
author = "fastlock contributors"
copyright = "fastlock contributors, Apache-2.0"  # noqa: A001 - Sphinx's name

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "myst_parser",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build"]
myst_heading_anchors = 3

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "description"
# The oslo docstrings refer to classes by short names; no network here,
# so no intersphinx mapping is fetched.
intersphinx_mapping: dict[str, tuple[str, None]] = {}

html_theme = "alabaster"
html_static_path = ["_static"]
html_title = "fastlock"
