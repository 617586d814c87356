from janitr.cli import main

raise SystemExit(main())
