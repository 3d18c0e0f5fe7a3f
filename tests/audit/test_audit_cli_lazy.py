"""The CLI's default audit channel is the audit package's: one definition (envrepro.model.DEFAULT_CHANNEL)."""

from envrepro.audit import DEFAULT_CHANNEL
from envrepro.cli import audit as cli_audit


def test_default_channel_matches():
    assert cli_audit.DEFAULT_CHANNEL == DEFAULT_CHANNEL
