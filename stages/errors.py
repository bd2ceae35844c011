"""The one error type a stage reports to the user without a traceback."""


class PipelineError(Exception):
    """Bad input or configuration: the message says what is wrong and where."""
