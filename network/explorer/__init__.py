"""The explorer: a web view of a running network that teaches how a transaction flows.

It is a node like the others (``consortium node run explorer --config FILE``, started by
``consortium up``) and reads the network only as a member would: blocks over a peer's
Deliver, each transaction's trace records from the peers' trace service, chaincode
definitions by a ``_lifecycle`` query, members and proposals from the control plane's
AMB API, inclusion proofs from the orderer's ledgerdb journal (read-only, as
``consortium ledger`` reads it). Pages are rendered on the server (plain HTML and SVG,
so they work without script, from the keyboard and in a screen reader); a small script
adds live updates over server-sent events and the in-page proof check.

Modules: ``config`` (what it reads, from where), ``blocks`` (a block as a page shows
it), ``ledger`` (blocks followed live, the txid index, subscribers), ``flow`` (trace
records as a sequence across nodes), ``sequence`` (that sequence drawn in SVG),
``pages`` (the HTML), ``proofs`` (journal proofs for the page to check), ``server``
(routes, server-sent events, serving).
"""
