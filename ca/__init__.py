"""Member certificate authorities, key protection, MSP identities and Fabric policies."""
