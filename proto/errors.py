"""The one error root of ``proto``: a Fabric wire message that cannot be read or answers no.

``proto`` only decodes and checks messages; what a failure means to a client (a
validation code, a Deliver status) is kept on the error, so each node answers as
Fabric does without knowing how the message was read::

    ProtoError
    ├── Invalid       proto.envelope: a transaction's validation code other than VALID
    ├── LimitsError   proto.limits: a node's ``limits:`` setting that is not positive numbers
    ├── LogSpecError  proto.logspec: a logging specification that does not parse
    ├── MetricsError  proto.metrics: a metric declared twice differently, labels miscounted
    └── SeekError     proto.seek: a Deliver request answered with a non-SUCCESS status
"""

from __future__ import annotations


class ProtoError(Exception):
    """Base of every error raised by ``proto``."""
