"""What junctionctl tells a person when something it needs is not there."""


class CtlError(Exception):
    """A failure to report in one sentence, without a traceback (exit code 2)."""
