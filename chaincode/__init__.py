"""The peer side of Fabric's chaincode shim protocol and the tools contract authors use."""
