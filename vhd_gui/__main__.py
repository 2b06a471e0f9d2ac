from vhd_gui.cli import main

raise SystemExit(main())
