# One image for every Rescue app. The app is chosen by the command:
#   docker run rescue node dist/apps/<api|ingest|slicer|cluster-summarize|indexer|generator>/src/main.js
#   docker run rescue node dist/apps/cli/src/main.js kb build …   (the `rescue` CLI)
# docker-compose.yml and k8s/base set the command per service.
#
# Native code: none is compiled. The tree-sitter grammars are loaded as .wasm by web-tree-sitter;
# @lancedb/lancedb and msgpackr-extract ship prebuilt binaries for glibc in platform packages, so the
# base is Debian (bookworm-slim), not Alpine (musl), and no python3/make/g++ is needed.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# --ignore-scripts: the `prepare` script (the build) runs below once the sources are in, and no
# dependency needs its install script (see allowScripts in package.json).
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY tools ./tools
COPY libs ./libs
COPY apps ./apps
RUN npm run build
# Data the libraries read at run time beside the code (found by walking up from dist/ to
# libs/<lib>/data: the relevance gate's fixtures, the slicing queries, the evaluation sets),
# gathered for the runtime stage, whichever libs have some.
RUN mkdir -p /app/runtime-data && cp -r --parents libs/*/data /app/runtime-data/

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Runtime dependencies only. --ignore-scripts also skips `prepare` (tsc is a dev dependency).
# @lancedb/lancedb lists @huggingface/transformers as optional; it is imported only by LanceDB's
# own transformers embedding function, which Rescue does not use (our embedders are in
# libs/retrieval), and it would add about 330 MB of ONNX runtimes and image codecs.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/@huggingface node_modules/onnxruntime-node node_modules/onnxruntime-web \
           node_modules/onnxruntime-common node_modules/sharp node_modules/@img \
 && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY --from=build /app/runtime-data/libs ./libs
COPY bin ./bin
# Our small samples, so `kb build --distributed --source examples/…` works out of the box: every
# container of this image has them at the same path, which a distributed build requires.
COPY examples ./examples
# /data is the shared volume (RESCUE_DATA_DIR, the KB folder). Created here and owned by the
# runtime user so that a fresh named volume mounted on it inherits that ownership.
RUN mkdir -p /data && chown node:node /data
# The image's own user (uid 1000, created by the node image); k8s/base runs as the same uid.
USER node
# MALLOC_ARENA_MAX=2: glibc otherwise keeps up to 8 malloc arenas per core for the threads that
# allocate (LanceDB's writers, libuv's pool), and memory freed there is rarely given back. A 100x KB
# build (134k records) peaked at 1,046 MB without it and 887 MB with it (README, "KB build").
ENV HOST=0.0.0.0 \
    PORT=3000 \
    RESCUE_DATA_DIR=/data/work \
    RESCUE_KB_DIR=/data/kb \
    MALLOC_ARENA_MAX=2
# 3000: the API; 9100: a worker's health and metrics listener (HEALTH_PORT).
EXPOSE 3000 9100
# Works for every app: the probe reads which app PID 1 runs (tools/probe.ts) and GETs /health/ready
# on the API's PORT or on a worker's health listener (HEALTH_PORT, default 9100). The image has no
# curl, hence a Node script. Kubernetes uses httpGet probes on the same endpoints instead.
HEALTHCHECK --interval=30s --timeout=10s --start-period=60s --retries=3 \
  CMD ["node", "dist/tools/probe.js", "ready"]
CMD ["node", "dist/apps/api/src/main.js"]
