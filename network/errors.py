"""The error hierarchy of ``network`` (the control plane has its own, AMB-shaped one)."""


class NetworkError(Exception):
    """Base of the supervisor's and SDK's errors."""


class SupervisorError(NetworkError):
    """Bringing a network up or down failed; the message names the node and why."""
