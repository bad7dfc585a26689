"""The AMB-style control plane, the network spec, the supervisor, the SDK and the CLI."""
