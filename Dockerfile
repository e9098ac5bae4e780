# The wopihost image: one image for every role; the compose file picks the role with the command
# (api, worker, beat). With no command it runs the embedded default, `wopihost serve`.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies change less often than the code, but they are declared in pyproject.toml together with the
# packages, so the project is installed in one step from a copy of only what the build needs.
COPY pyproject.toml README.md ./
COPY services ./services
COPY workers ./workers
COPY shared ./shared
RUN pip install . && rm -rf /app/build

RUN useradd --create-home --uid 10001 --user-group wopihost \
    && mkdir -p /data \
    && chown wopihost:wopihost /data

USER wopihost
WORKDIR /data
ENV WOPI_DATA_DIR=/data
VOLUME ["/data"]
EXPOSE 8000

ENTRYPOINT ["wopihost"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8000"]
