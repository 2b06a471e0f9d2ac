"""PyInstaller runtime hook: runs inside the bundle before the app's own code.

tiktoken fetches its BPE files over the network on first use and keeps them in
TIKTOKEN_CACHE_DIR; the bundle ships them in ``tiktoken_cache`` so nothing is fetched.
A value the user set already wins.
"""

import os
import sys

_here = getattr(sys, "_MEIPASS", os.path.dirname(os.path.abspath(sys.executable)))
_cache = os.path.join(_here, "tiktoken_cache")
if os.path.isdir(_cache):
    os.environ.setdefault("TIKTOKEN_CACHE_DIR", _cache)
