"""Sample contracts. Each imports only the Fabric contract API and the standard library."""
