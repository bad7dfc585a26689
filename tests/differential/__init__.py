"""Scenarios run against real Fabric (the anchor) and consortium side by side."""
