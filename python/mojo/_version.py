# Version of the Python package (kept equal to MOJO_VERSION_* of include/mojo/mojo.h; a test checks it).
# mojo.__version__ is the loaded library's version.
__version__ = "0.1.0"
