# One image for the three services: `jan-models api|deployer|inventory`.
# Build: docker build -t jan-models .   (installs exactly what uv.lock pins)
FROM python:3.12-slim AS build
ENV UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_PROJECT_ENVIRONMENT=/app/.venv
RUN pip install --no-cache-dir "uv==0.13.8"
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY shared ./shared
COPY services ./services
COPY kubesim ./kubesim
COPY jan_models ./jan_models
RUN uv sync --frozen --no-dev --no-editable
# The services and their dependencies only: the simulator and the benchmark suite are for
# a developer's machine (tests/deploy/test_image.py runs the CLI without them).
RUN site=$(.venv/bin/python -c "import sysconfig; print(sysconfig.get_paths()['purelib'])") \
    && rm -rf "$site/kubesim" "$site/jan_models/bench"

FROM python:3.12-slim
RUN useradd --uid 10001 --no-create-home --shell /usr/sbin/nologin jan
COPY --from=build /app/.venv /app/.venv
ENV PATH=/app/.venv/bin:$PATH PYTHONUNBUFFERED=1 JAN_MODELS_LOG_FORMAT=json
USER 10001
ENTRYPOINT ["jan-models"]
CMD ["--help"]
