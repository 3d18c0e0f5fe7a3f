"""The image platforms: conda subdir → Docker's platform name (one table for the CLI, the lock and the build)."""

DOCKER_PLATFORMS = {"linux-64": "linux/amd64", "linux-aarch64": "linux/arm64"}
