from xlgen.cli import main

raise SystemExit(main())
