# pushcast worker: `pushcast worker` against Kafka and Redis (deploy/compose.yaml); the same
# image runs `pushcast gateway` (compose overrides the entrypoint), which serves sdk/.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
COPY engine/__init__.py engine/__init__.py
COPY connectors/__init__.py connectors/__init__.py
RUN pip install . rocksdict==0.3.29 && pip uninstall -y pushcast

COPY engine engine
COPY connectors connectors
COPY sdk sdk
RUN pip install --no-deps . && useradd --system --home /app pushcast && mkdir -p /data && chown pushcast /data
USER pushcast

# Campaigns and pushcast.yaml are mounted at /etc/pushcast; table stores live in /data.
VOLUME ["/data"]
EXPOSE 9464
ENTRYPOINT ["pushcast", "worker", "--config", "/etc/pushcast/pushcast.yaml", \
            "--campaigns", "/etc/pushcast/campaigns.d", "--data-dir", "/data", "--metrics-port", "9464"]
