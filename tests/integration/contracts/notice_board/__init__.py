"""A notice board (a test contract, not a sample): anyone in the channel posts notices,
only a caller whose certificate says ``board.role=moderator`` pins one."""

from .contract import NoticeBoard

CONTRACTS = [NoticeBoard]
