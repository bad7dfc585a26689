"""An ERC-20-style fungible token, as fabric-samples token-erc-20: balances and allowances
kept under composite keys, accounts named by the caller's Fabric identity id."""

from .contract import Token

CONTRACTS = [Token]
