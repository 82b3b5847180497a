#!/usr/bin/env python3
"""Checks every response the integration tests recorded against openapi.yaml.

Usage: check_responses.py OPENAPI_YAML LOG_JSONL

Each log line: {"method","path","status","headers":{...},"body"}. A logged path (its query
left off) is matched against the spec's path keys: an exact key first, else a templated one
(`/v1/snapshots/{name}/events` matches `/v1/snapshots/abc/events`: a `{x}` segment matches one
non-empty segment without `/`, `%2F` included, as the server's router does; when several match,
the one with the most literal segments, then the first in the spec). For a path and method the
spec has, the status must be one the operation documents, and a JSON body must validate against
its schema; an undocumented path must answer 404, a documented path with another method 405
with an Allow header. Every operation of the spec must have been seen at least once.
Exit 0 when all hold, 1 with a report otherwise.
"""
import json
import sys

import jsonschema
import yaml
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012


def pointer(*parts):
    return "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def template_matcher(keys):
    """A function from a concrete path to the spec key it falls under (None: none)."""
    templates = []
    for order, key in enumerate(keys):
        if "{" not in key:
            continue
        segments = key.split("/")
        literals = sum(1 for segment in segments if not (segment.startswith("{") and segment.endswith("}")))
        templates.append((-literals, order, key, segments))
    templates.sort()

    def fits(segments, parts):
        if len(segments) != len(parts):
            return False
        for segment, part in zip(segments, parts):
            if segment.startswith("{") and segment.endswith("}"):
                if not part:
                    return False
            elif segment != part:
                return False
        return True

    def match(path):
        if path in keys:
            return path
        parts = path.split("/")
        for _, _, key, segments in templates:
            if fits(segments, parts):
                return key
        return None

    return match


def main():
    spec_path, log_path = sys.argv[1], sys.argv[2]
    spec = yaml.safe_load(open(spec_path))
    registry = Registry().with_resource("urn:spec", Resource.from_contents(spec, default_specification=DRAFT202012))

    def errors(ref, instance):
        validator = jsonschema.Draft202012Validator({"$ref": "urn:spec#" + ref}, registry=registry)
        return [e.message for e in validator.iter_errors(instance)]

    def resolve(node):
        while isinstance(node, dict) and "$ref" in node:
            node = registry.resolver().lookup("urn:spec" + node["$ref"]).contents
        return node

    match = template_matcher(spec["paths"])
    failures, seen, checked = [], set(), 0
    for number, line in enumerate(open(log_path), 1):
        entry = json.loads(line)
        method, path, status = entry["method"].lower(), entry["path"].split("?")[0], entry["status"]
        where = f"line {number}: {entry['method']} {entry['path']} -> {status}"
        checked += 1
        matched = match(path)
        operations = spec["paths"][matched] if matched is not None else None
        if operations is None:
            if status != 404:
                failures.append(f"{where}: undocumented path must answer 404")
            continue
        if method not in operations:
            if status != 405 or "allow" not in entry["headers"]:
                failures.append(f"{where}: undocumented method must answer 405 with Allow")
            continue
        path = matched  # the spec's key from here on (a template for a templated path)
        seen.add((path, method))
        responses = operations[method]["responses"]
        key = str(status) if str(status) in responses else ("default" if "default" in responses else None)
        if key is None:
            failures.append(f"{where}: status not documented (documented: {sorted(responses)})")
            continue
        response = resolve(responses[key])
        content = response.get("content", {})
        ctype = entry["headers"].get("content-type", "").split(";")[0].strip()
        media = {key.split(";")[0].strip(): key for key in content}
        if content and ctype not in media:
            failures.append(f"{where}: content type {ctype!r} not documented ({sorted(content)})")
            continue
        for header in (response.get("headers") or {}):
            if resolve(response["headers"][header]).get("required") and header.lower() not in entry["headers"]:
                failures.append(f"{where}: required header {header} missing")
        if ctype == "application/json":
            try:
                body = json.loads(entry["body"])
            except ValueError as error:
                failures.append(f"{where}: body is not JSON: {error}")
                continue
            ref = pointer("paths", path, method, "responses", key)
            if "$ref" in responses[key]:
                ref = responses[key]["$ref"][1:]
            problems = errors(ref + pointer("content", media[ctype], "schema"), body)
            if problems:
                failures.append(f"{where}: {problems[:3]} in {entry['body'][:200]}")

    every = {(p, m) for p, ops in spec["paths"].items() for m in ops if m in ("get", "post", "put", "delete", "patch")}
    for path, method in sorted(every - seen):
        failures.append(f"operation {method.upper()} {path} was never exercised")
    print(f"contract: {checked} responses checked against {spec_path}, {len(every & seen)}/{len(every)} operations seen")
    for failure in failures:
        print("  FAIL " + failure)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
