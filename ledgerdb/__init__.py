"""ledgerdb: a QLDB-style verifiable ledger database (journal, documents, PartiQL)."""
