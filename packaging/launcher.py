"""The bundle's entry point: the same `vhd-annotator` command a pip install gets."""

from vhd_gui.cli import main

raise SystemExit(main())
