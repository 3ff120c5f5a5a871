# Atoll in a container: Debian 12, the system's libsrt, Deno from npm.
#   docker build -t atoll .
#   docker run --rm -p 9000:9000/udp -p 8080:8080 atoll
# Linux only by design (see README); the host network works too (--network host).

FROM node:20-bookworm-slim AS build
WORKDIR /atoll
ENV DENO_DIR=/atoll/.deno
COPY toolchain/package.json toolchain/
RUN npm install --prefix toolchain --no-package-lock --no-audit --no-fund --loglevel=error
COPY deno.json deno.lock main.ts mod.ts ./
COPY src ./src
COPY static ./static
COPY ffi ./ffi
COPY workers ./workers
# Fill the module cache now, so the container never downloads at run time.
RUN toolchain/node_modules/deno/deno cache main.ts workers/peer.ts

FROM debian:12-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends libsrt1.5-openssl \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /atoll
ENV DENO_DIR=/atoll/.deno
COPY --from=build /atoll/toolchain/node_modules/deno/deno /usr/local/bin/deno
COPY --from=build /atoll /atoll
RUN rm -rf /atoll/toolchain && useradd --system --no-create-home atoll && chown -R atoll /atoll/.deno
USER atoll
EXPOSE 9000/udp 8080/tcp
ENTRYPOINT ["deno", "run", "--cached-only", "-A", "/atoll/main.ts"]
# Inside a container the API must listen beyond loopback to be reachable through -p.
CMD ["--http-listen", "0.0.0.0:8080"]
