"""Sealed bids (a test contract, not a sample): bidders keep their bids in private data
collections until the auction closes; a public ``Tick`` moves the chain on."""

from .contract import SealedBids

CONTRACTS = [SealedBids]
