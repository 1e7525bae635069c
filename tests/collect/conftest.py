import sys
from pathlib import Path

# Let the tests import `ingest` from the work tree even before the project is installed.
REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
