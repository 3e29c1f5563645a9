"""`python -m services.projector [rebuild]`: the process its declaration derives, or the
maintenance command that rebuilds the read model from JOBS."""

import sys

from services.projector import SERVICE

if sys.argv[1:] == ["rebuild"]:
    from services.projector.main import rebuild_main

    sys.exit(rebuild_main())
SERVICE.main()
