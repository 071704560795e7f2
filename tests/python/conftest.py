"""The tests import the package from the source tree (python/) and the library from MOJO_LIBRARY (set by the
meson test) or from a build tree, as mojo itself finds it."""
import os
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
if os.environ.get("MOJO_PYTHON_INSTALLED") != "1":  # set to test an installed copy instead
    sys.path.insert(0, str(ROOT / "python"))
