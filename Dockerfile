# One image for every role of product-inventory: SERVICES picks the services a container runs
# (all of them by default, on the embedded SQLite database). Multi-stage: the dependencies from
# the lock file and the sqlite3 addon built for this Node, the TypeScript compiled, then only the
# production dependencies and the compiled JavaScript in a slim runtime that runs as a non-root
# user. Node is PID 1 and handles SIGTERM itself (server.ts): the node drains, then stops.

FROM node:24-bookworm-slim AS deps
WORKDIR /app
# The toolchain node-gyp needs for the sqlite3 addon (.npmrc sets ignore-scripts: it is built here).
RUN apt-get update \
	&& apt-get install -y --no-install-recommends python3 make g++ \
	&& rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json .npmrc ./
RUN --mount=type=cache,target=/root/.npm npm ci --no-audit --no-fund
# Against the image's own Node headers, offline.
RUN npm rebuild sqlite3 --ignore-scripts=false --nodedir=/usr/local

FROM deps AS build
COPY tsconfig.json tsconfig.build.json server.ts moleculer.config.ts ./
COPY config ./config
COPY contracts ./contracts
COPY lib ./lib
COPY middlewares ./middlewares
COPY mixins ./mixins
COPY services ./services
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --no-audit --no-fund

FROM node:24-bookworm-slim AS runtime
WORKDIR /app
ENV NODE_ENV=production \
	PORT=3000 \
	HEALTH_PORT=8081 \
	METRICS_PORT=3030 \
	METRICS_HOST=0.0.0.0 \
	DATABASE_URL=sqlite:/app/data/inventory.sqlite
RUN groupadd --system --gid 10001 app \
	&& useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app \
	&& mkdir -p /app/data \
	&& chown app:app /app/data
COPY --from=build --chown=root:root /app/package.json ./package.json
COPY --from=build --chown=root:root /app/node_modules ./node_modules
COPY --from=build --chown=root:root /app/dist ./dist
USER 10001:10001
VOLUME ["/app/data"]
EXPOSE 3000 3030 8081
# Ready: the node's own services and databases answer (every role has the health port).
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
	CMD ["node", "-e", "fetch('http://127.0.0.1:'+process.env.HEALTH_PORT+'/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/server.js"]
