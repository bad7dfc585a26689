"""Wire formats: Fabric's own messages (from ``fabric_protos``) and helpers that build,
sign and hash them byte-exactly as Fabric does, plus the generated code of the services
Fabric has no protocol for (ledgerdb, control plane).

Generated ``*_pb2.py`` files are made by ``make proto`` from ``proto/*.proto``.
"""
