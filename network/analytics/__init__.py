"""The analytics node (issue 22): each channel's committed data in a ledgerdb database.

``rows`` reads a block into rows, ``store`` writes them (one block, one ledgerdb
transaction, checkpoint included), ``config`` reads the node's YAML and ``node`` follows
the peer over Deliver. ``docs/analytics.md`` is the user's page.
"""
