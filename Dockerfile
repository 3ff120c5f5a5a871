# Atoll in a container: Debian 12, the system's libsrt, Deno from npm.
#   docker build -t atoll .
#   docker run --rm -p 9000:9000/udp -p 127.0.0.1:8080:8080 -p 127.0.0.1:8081:8081 atoll
# With podman, build with --format docker: its default OCI format has no HEALTHCHECK, and podman
# drops the one below with only a warning.
# The API is published on the host's loopback only: it is plain HTTP, and reads need no token.
# Linux only by design (see README); the host network works too (--network host).

FROM node:20-bookworm-slim AS build
WORKDIR /atoll
# The module cache is kept apart from the code: only the cache is the atoll user's to write.
ENV DENO_DIR=/deno-dir
COPY toolchain/package.json /tmp/toolchain.json
# Only Deno, at the version toolchain/package.json pins (playwright-core is for the tests), and in
# the same layer the npm tree is removed: nothing of it reaches /atoll or the image.
RUN version="$(node -p 'require("/tmp/toolchain.json").devDependencies.deno')" \
 && npm install --prefix /tmp/toolchain --no-save --no-package-lock --no-audit --no-fund \
      --loglevel=error "deno@${version}" \
 && cp /tmp/toolchain/node_modules/deno/deno /usr/local/bin/deno \
 && rm -rf /tmp/toolchain /tmp/toolchain.json /root/.npm \
 && deno --version
COPY deno.json deno.lock main.ts mod.ts ./
COPY src ./src
COPY static ./static
COPY ffi ./ffi
COPY workers ./workers
# Fill the module cache now, so the container never downloads at run time.
RUN deno cache --frozen main.ts workers/peer.ts workers/output.ts workers/recorder.ts

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsrt1.5-openssl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home atoll
WORKDIR /atoll
ENV DENO_DIR=/atoll/.deno
COPY --from=build /usr/local/bin/deno /usr/local/bin/deno
COPY --from=build /atoll /atoll
COPY --from=build --chown=atoll /deno-dir /atoll/.deno
USER atoll
EXPOSE 9000/udp 8080/tcp 8081/tcp
ENTRYPOINT ["deno", "run", "--cached-only", "-A", "/atoll/main.ts"]
# Inside a container the API must listen beyond loopback to be reachable through -p. A request
# through a port published as 127.0.0.1:8080 or localhost:8080 names a loopback host, which the API
# answers; under any other name add it with --http-allowed-hosts (and set ATOLL_API_TOKEN).
# The same for the media output (HLS, HTTP-TS): publish it on the host's loopback too, or behind a
# proxy; streams with a read passphrase need a signed URL there (README, Watching over HTTP).
CMD ["--http-listen", "0.0.0.0:8080", "--media-listen", "0.0.0.0:8081"]
# /healthz answers 200 while the SRT port is bound. The image has no curl; Deno fetches instead.
# With another --http-listen port, give `docker run` a --health-cmd that asks that port.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["deno", "eval", "--no-config", "const r = await fetch('http://127.0.0.1:8080/healthz'); Deno.exit(r.ok ? 0 : 1)"]
