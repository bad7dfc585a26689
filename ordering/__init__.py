"""The ordering service node: Broadcast, block cutting, signing, Deliver, channels."""
