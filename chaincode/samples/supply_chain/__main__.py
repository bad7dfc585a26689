"""Serve the contract as chaincode-as-a-service with the official Python shim.

CHAINCODE_ID=<package id> CHAINCODE_SERVER_ADDRESS=0.0.0.0:9999 python -m ...
"""

from fabric_chaincode_python.fabric_contract_api import ContractChaincode

from .contract import SupplyChain

if __name__ == "__main__":
    ContractChaincode.new_chaincode(SupplyChain()).start()
