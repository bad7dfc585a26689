"""The one error root of ``ordering``: every failure names the input that caused it.

Classes kept next to the code that raises them are marked with their module::

    OrderingError
    ├── ConfigError
    ├── Rejected                msgprocessor (with the Fabric status to answer)
    ├── IngressUnavailable      ingress
    ├── AdmissionLogFailed      admission_log
    ├── IngressFellBack         cluster
    ├── IngressStalled          cluster
    └── LeaseLost               cluster
        └── CopiesAhead         cluster
"""


class OrderingError(Exception):
    """Base of every error raised by ``ordering``."""


class ConfigError(OrderingError):
    """A channel profile, config block or config update is invalid."""
