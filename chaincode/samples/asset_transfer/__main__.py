"""Serve the contract as chaincode-as-a-service, as Fabric's ccaas builder expects.

CHAINCODE_ID=basic_1.0:<hash> CHAINCODE_SERVER_ADDRESS=0.0.0.0:9999 python -m ...
"""

from fabric_chaincode_python.fabric_contract_api import ContractChaincode

from .contract import AssetTransfer

if __name__ == "__main__":
    ContractChaincode.new_chaincode(AssetTransfer()).start()
