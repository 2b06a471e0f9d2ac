"""VHD Annotator: label images and videos as harmful or not with the VHD11K debate protocol.

Nothing in this package outside ``vhd_gui.ui`` imports Qt, and nothing imports openai or
autogen at module level: the CLI's ``--version`` and the window's first paint stay fast.
"""

__version__ = "0.1.0"
