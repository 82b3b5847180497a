"""schemathesis hooks for snapshotd (loaded by Tests/Contract/schemathesis.sh via SCHEMATHESIS_HOOKS).

openapi.yaml describes an application/x-ndjson body (and the same as application/ndjson) with
the same schema as the JSON one: one
Event, or an array of them. This serializer writes that value as NDJSON, one JSON text per line:
an array gives one line per item, anything else (an Event, or the odd values negative testing
makes) one line. JSON is written as the built-in application/json serializer writes it.
"""
import json

import schemathesis


@schemathesis.serializer("application/x-ndjson", "application/ndjson")
def ndjson(ctx, value):
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    return "".join(json.dumps(item) + "\n" for item in items).encode("utf-8")
