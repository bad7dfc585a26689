"""Private notes (a test contract, not a sample; issue 22's analytics test): a bid's amount
goes into a private data collection, its existence into the public state; notes are blind
writes (no read), so two transactions of one block may both write one key and both be
VALID."""

from .contract import PrivateNotes

CONTRACTS = [PrivateNotes]
