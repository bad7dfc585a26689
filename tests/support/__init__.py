"""Helpers shared by integration and conformance tests: real processes, real PKI."""
