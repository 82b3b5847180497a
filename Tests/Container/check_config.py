#!/usr/bin/env python3
"""Static checks of the container files, for Tests/Container/check.sh (no Docker engine needed).

    check_config.py dockerfile DOCKERFILE SWIFT_VERSION
        The image's layout: stages and bases (build arguments SWIFT_IMAGE and RUNTIME_IMAGE
        declared before the first FROM, whose defaults are the official images; the build stage's
        Swift is SWIFT_VERSION, the toolchain the tests here ran), the release static-stdlib build, a non-root numeric USER,
        VOLUME /data holding SNAPSHOTD_SNAPSHOT, EXPOSE matching SNAPSHOTD_LISTEN, STOPSIGNAL,
        HEALTHCHECK (`snapshotd health` with no --url: it follows SNAPSHOTD_LISTEN). Prints `PIN STAGE PACKAGE VERSION` for every pinned apt package.
    check_config.py compose COMPOSE PROMETHEUS_YML DOCKERFILE
        What compose.yaml must say, checked key by key (where `docker compose config` cannot run).
"""
import os
import re
import shlex
import sys

import yaml

failures = 0


def check(cond, what):
    global failures
    print(("ok:   " if cond else "FAIL: ") + what)
    if not cond:
        failures += 1
    return cond


def instructions(path):
    """(keyword, argument text) for each instruction, continuation lines joined."""
    result, pending = [], ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not pending and line.strip().startswith("#"):
                continue
            if pending and line.strip().startswith("#"):
                continue  # a comment inside a continued instruction
            if line.rstrip().endswith("\\"):
                pending += line.rstrip()[:-1] + " "
                continue
            full = (pending + line).strip()
            pending = ""
            if full:
                keyword, _, rest = full.partition(" ")
                result.append((keyword.upper(), rest.strip()))
    return result


def global_args(path):
    """The ARGs before the first FROM: {name: default or None}."""
    args = {}
    for keyword, arg in instructions(path):
        if keyword == "FROM":
            break
        if keyword == "ARG":
            name, eq, default = arg.partition("=")
            args[name.strip()] = default.strip().strip('"') if eq else None
    return args


def stages(path):
    """Each stage: its base as written (`from`), with global ARG defaults substituted (`base`)."""
    found, args = [], global_args(path)

    def substitute(text):
        return re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1)) or m.group(0), text)

    for keyword, arg in instructions(path):
        if keyword == "FROM":
            words = arg.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(found))
            found.append({"from": words[0], "base": substitute(words[0]), "name": name, "body": []})
        elif found:
            found[-1]["body"].append((keyword, arg))
    return found


def env_of(body):
    env = {}
    for keyword, arg in body:
        if keyword == "ENV":
            for item in shlex.split(arg):
                key, _, value = item.partition("=")
                env[key] = value
    return env


def exposed_port(body):
    ports = [p.split("/")[0] for k, a in body if k == "EXPOSE" for p in a.split()]
    return ports[0] if ports else None


def dockerfile(path, swift_version):
    st = stages(path)
    check(len(st) >= 2, f"multi-stage: {' -> '.join(s['name'] + '=' + s['base'] for s in st)}")
    build, runtime = st[0], st[-1]
    args = global_args(path)
    check(build["from"] in ("${SWIFT_IMAGE}", "$SWIFT_IMAGE") and "SWIFT_IMAGE" in args,
          f"the build stage's base is the build argument SWIFT_IMAGE ({build['from']}, default {args.get('SWIFT_IMAGE')})")
    check(runtime["from"] in ("${RUNTIME_IMAGE}", "$RUNTIME_IMAGE") and "RUNTIME_IMAGE" in args,
          f"the runtime stage's base is the build argument RUNTIME_IMAGE ({runtime['from']}, default {args.get('RUNTIME_IMAGE')})")
    m = re.fullmatch(r"swift:(\d+\.\d+(?:\.\d+)?)-(\w+)", build["base"])
    check(m is not None, f"build stage on the official Swift image ({build['base']})")
    if m:
        check(m.group(1) == swift_version, f"its Swift {m.group(1)} is the toolchain tested here ({swift_version})")
        check(runtime["base"] == f"debian:{m.group(2)}-slim", f"runtime on the same Debian release, slim ({runtime['base']})")
    runs = " ".join(a for k, a in build["body"] if k == "RUN")
    check(re.search(r"swift build -c release --static-swift-stdlib --product snapshotd", runs) is not None,
          "build stage: swift build -c release --static-swift-stdlib --product snapshotd")
    check(any(k == "COPY" and "--from=" + build["name"] in a and "/usr/local/bin/snapshotd" in a for k, a in runtime["body"]),
          "runtime gets only the binary from the build stage, at /usr/local/bin/snapshotd")
    users = [a for k, a in runtime["body"] if k == "USER"]
    uid = users[-1].split(":")[0] if users else "0"
    check(uid.isdigit() and uid != "0", f"runtime USER is a numeric non-root uid ({users[-1] if users else 'none'})")
    volumes = [v.strip('[]", ') for k, a in runtime["body"] if k == "VOLUME" for v in a.split()]
    check("/data" in volumes, f"VOLUME /data ({volumes})")
    env = env_of(runtime["body"])
    snapshot = env.get("SNAPSHOTD_SNAPSHOT", "")
    check(snapshot.startswith("/data/"), f"SNAPSHOTD_SNAPSHOT on the volume ({snapshot!r})")
    port = exposed_port(runtime["body"])
    check(port == "8080", f"EXPOSE 8080 ({port})")
    check(env.get("SNAPSHOTD_LISTEN") == f"0.0.0.0:{port}", f"SNAPSHOTD_LISTEN=0.0.0.0:{port} ({env.get('SNAPSHOTD_LISTEN')!r})")
    check(("STOPSIGNAL", "SIGTERM") in runtime["body"], "STOPSIGNAL SIGTERM")
    health = [a for k, a in runtime["body"] if k == "HEALTHCHECK"]
    check(bool(health) and re.search(r'CMD \["snapshotd", *"health"', health[0]) is not None and "--url" not in health[0],
          f"HEALTHCHECK runs `snapshotd health` (exec form) with no --url: /readyz at SNAPSHOTD_LISTEN ({health[0] if health else 'none'})")
    for s in (build, runtime):
        for k, a in s["body"]:
            if k == "RUN" and "apt-get install" in a:
                for word in a.split():
                    if re.fullmatch(r"[a-z0-9][a-z0-9.+-]+=[0-9][^ ]*", word):
                        pkg, _, version = word.partition("=")
                        print(f"PIN {s['name']} {pkg} {version}")
    return failures == 0


def compose(path, prometheus_path, dockerfile_path):
    here = os.path.dirname(os.path.abspath(path))
    doc = yaml.safe_load(open(path, encoding="utf-8"))
    services = doc.get("services") or {}
    named_volumes = doc.get("volumes") or {}
    runtime = stages(dockerfile_path)[-1]["body"]
    port = exposed_port(runtime)

    snap = services.get("snapshotd") or {}
    check(bool(snap), "services.snapshotd")
    build = snap.get("build") or {}
    context = os.path.normpath(os.path.join(here, build.get("context", ".")))
    check(os.path.isfile(os.path.join(context, "Package.swift")), f"snapshotd.build.context is the repository root ({build.get('context')})")
    check(os.path.samefile(os.path.join(context, build.get("dockerfile", "Dockerfile")), dockerfile_path) if os.path.exists(os.path.join(context, build.get("dockerfile", "Dockerfile"))) else False,
          f"snapshotd.build.dockerfile is {dockerfile_path} ({build.get('dockerfile')})")
    check(bool(snap.get("image")), f"snapshotd.image ({snap.get('image')})")
    data = [v for v in snap.get("volumes") or [] if isinstance(v, str) and v.split(":")[1:2] == ["/data"]]
    check(len(data) == 1 and data[0].split(":")[0] in named_volumes, f"a named volume on /data ({data})")
    test = (snap.get("healthcheck") or {}).get("test") or []
    check(test[:3] == ["CMD", "snapshotd", "health"] and "--url" not in test,
          f"snapshotd.healthcheck: snapshotd health, /readyz at SNAPSHOTD_LISTEN ({' '.join(test)})")
    build_args = build.get("args") or []
    build_args = list(build_args) if isinstance(build_args, list) else list(build_args.keys())
    check(sorted(build_args) == ["RUNTIME_IMAGE", "SWIFT_IMAGE"],
          f"snapshotd.build.args passes SWIFT_IMAGE and RUNTIME_IMAGE from the environment ({build_args})")
    check("name" not in doc, "no top-level `name:` (Debian's docker-compose 1.29 refuses it; the project is named with -p)")
    check(snap.get("stop_grace_period") == "30s", f"snapshotd.stop_grace_period 30s ({snap.get('stop_grace_period')})")
    check(snap.get("stop_signal", "SIGTERM") == "SIGTERM", "snapshotd.stop_signal SIGTERM")
    published = [str(p).rsplit(":", 1)[-1] for p in snap.get("ports") or []]
    check(published == [port], f"snapshotd publishes container port {port} ({snap.get('ports')})")

    prom = services.get("prometheus") or {}
    image = prom.get("image", "")
    m = re.fullmatch(r"\$\{PROMETHEUS_IMAGE:-(prom/prometheus:[^}]+)\}", image)
    check(m is not None and not m.group(1).endswith(":latest"),
          f"prometheus.image is ${{PROMETHEUS_IMAGE}}, default a pinned prom/prometheus ({image})")
    check(((prom.get("depends_on") or {}).get("snapshotd") or {}).get("condition") == "service_healthy",
          "prometheus.depends_on.snapshotd.condition: service_healthy")
    config_file = "/etc/prometheus/prometheus.yml"
    for arg in prom.get("command") or []:
        if arg.startswith("--config.file="):
            config_file = arg.split("=", 1)[1]
    mounts = [v.split(":") for v in prom.get("volumes") or [] if isinstance(v, str)]
    config_mount = [m for m in mounts if len(m) >= 2 and m[1] == config_file]
    check(len(config_mount) == 1 and os.path.samefile(os.path.join(here, config_mount[0][0]), prometheus_path),
          f"prometheus mounts {prometheus_path} at its --config.file {config_file}")

    prom_config = yaml.safe_load(open(prometheus_path, encoding="utf-8"))
    targets = [(job.get("metrics_path", "/metrics"), t)
               for job in prom_config.get("scrape_configs") or []
               for sc in job.get("static_configs") or [] for t in sc.get("targets") or []]
    check(("/metrics", f"snapshotd:{port}") in targets, f"prometheus scrapes snapshotd:{port}/metrics ({targets})")
    return failures == 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "dockerfile":
        ok = dockerfile(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 5 and sys.argv[1] == "compose":
        ok = compose(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit(__doc__)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
