"""The CLI's copy of the default audit channel stays equal to the audit package's."""

from envrepro import cli_audit
from envrepro.audit import DEFAULT_CHANNEL


def test_default_channel_matches():
    assert cli_audit.DEFAULT_CHANNEL == DEFAULT_CHANNEL
