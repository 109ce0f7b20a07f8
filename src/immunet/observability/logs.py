"""JSON log lines from the standard library's ``logging`` (decision 0019).

One object per line: time (UTC, ISO 8601), level, logger, message, and the structured
fields a record carries in ``extra`` — only those named in :data:`FIELDS`, so a stray
``extra`` can never put a value in the logs that nobody reviewed. The access log passes
the request ID, method, route template, status, duration and actor reference (an opaque
account or staff id, never a name, mobile number or token); the query string and the
path are never logged anywhere.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

FIELDS = ("request_id", "method", "route", "status", "duration_ms", "actor")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                entry[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            # The exception's type only: its text may carry values from the request.
            entry["exception"] = record.exc_info[0].__name__
        return json.dumps(entry, separators=(",", ":"), ensure_ascii=False)
