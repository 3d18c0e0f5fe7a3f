"""Limits shared by the server and the command line that starts it (one definition for both)."""

DEFAULT_MAX_REQUEST_BYTES = 50 * 1024 * 1024  # MLflow's scoring server has no cap; 50 MiB holds ~1M numbers
EXIT_USER_ERROR = 2  # a user's mistake (input, model directory, options): the host's EnvreproError uses it too
