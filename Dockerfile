# syntax=docker/dockerfile:1
# chainlog image: dependencies are installed, the GraphQL types generated and the TypeScript compiled
# to dist/ once, at build time; the container runs the built JavaScript with node directly (no npm, no
# install, no compiler at start) as an unprivileged user, so the SIGTERM that `docker stop` sends
# reaches the service, which drains and exits.

# --- build: compile better-sqlite3, generate types, type-check and compile, then drop dev dependencies ---
FROM node:20.19-bookworm-slim AS build
WORKDIR /app
RUN apt-get update \
  && apt-get install -y --no-install-recommends python3 make g++ \
  && rm -rf /var/lib/apt/lists/*
# npm ci applies the patches of dependencies (scripts/patches, see its README) after installing.
COPY package.json package-lock.json ./
COPY scripts/patches ./scripts/patches
RUN npm ci
COPY tsconfig.json tsconfig.build.json codegen.ts ./
COPY schema ./schema
COPY src ./src
COPY scripts/build-dashboard.ts ./scripts/build-dashboard.ts
RUN npm run build && npm prune --omit=dev

# --- runtime: the built app (the service and its command-line tools, dist/cli) and its production
# dependencies, nothing else; the schema is read at start from /app/schema ---
FROM node:20.19-bookworm-slim AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    DATA_DIR=/var/lib/chainlog \
    LOG_FORMAT=json
WORKDIR /app
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/schema ./schema
COPY --from=build /app/dist ./dist
RUN mkdir -p /var/lib/chainlog && chown node:node /var/lib/chainlog
USER node
VOLUME /var/lib/chainlog
EXPOSE 4000
HEALTHCHECK --interval=5s --timeout=3s --start-period=20s --retries=6 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 4000) + '/healthz').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "--max-semi-space-size=32", "--no-allocation-site-pretenuring", "dist/main.js"]
