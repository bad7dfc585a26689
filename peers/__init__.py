"""The peer node: Gateway, Endorser, Deliver, simulation, validation and commit."""
