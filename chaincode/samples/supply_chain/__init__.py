"""Shipments tracked across organizations: attribute-based access, events, rich queries,
and each shipment's history."""

from .contract import SupplyChain

CONTRACTS = [SupplyChain]
