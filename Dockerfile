# The Hindsight worker / command line image used by docker-compose.yml.
FROM node:20-bookworm-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npx tsc -p tsconfig.json && npm prune --omit=dev
ENTRYPOINT ["node", "bin/hindsight.js"]
CMD ["worker"]
