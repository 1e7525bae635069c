import sys

from ingest.collect.serve import main

sys.exit(main())
