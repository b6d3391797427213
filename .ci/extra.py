"""Print the requirements of one extra of the installed fastlock, one per
line, for ``pip install``: the Makefile installs an extra's tools without
reinstalling (and recompiling) the project itself."""

import sys
from importlib.metadata import requires

extra = sys.argv[1]
wanted = f'extra == "{extra}"'
found = [r.split(";")[0].strip() for r in requires("fastlock") or ()
         if wanted in r]
if not found:
    sys.exit(f"fastlock has no extra {extra!r} (or it is empty)")
print("\n".join(found))
