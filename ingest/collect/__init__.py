"""Collection: the tracking snippet, the HTTP collector, its write-ahead log and the roll.

create_app(config)  the ASGI app          serve(...)  run it under uvicorn
roll(wal_dir, landing, upto=None)         move acknowledged events into the landing zone
"""

from ingest.collect.app import CollectorConfig, create_app
from ingest.collect.events import Limits
from ingest.collect.roll import RollResult, roll
from ingest.collect.serve import serve

__all__ = ["CollectorConfig", "Limits", "RollResult", "create_app", "roll", "serve"]
