# A stand-in for prom/prometheus, for `make test-docker` where no registry gives the official
# image: Debian's prometheus package on a bookworm base, laid out like the official image (the
# binary as its entrypoint, config at /etc/prometheus/prometheus.yml, data in /prometheus owned
# by nobody, port 9090). Build: docker build --build-arg BASE=... -f this - (no context needed).
ARG BASE=debian:bookworm-slim
FROM ${BASE}

# Not pinned: the stand-in is whatever prometheus bookworm has (2.42); the test checks its API.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus \
    && rm -rf /var/lib/apt/lists/* \
    && install -d -o nobody -g nogroup -m 0755 /prometheus

USER 65534:65534
WORKDIR /prometheus
VOLUME /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
