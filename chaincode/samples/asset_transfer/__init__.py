"""fabric-samples asset-transfer-basic, in Python: same functions, same JSON."""

from .contract import AssetTransfer

CONTRACTS = [AssetTransfer]
