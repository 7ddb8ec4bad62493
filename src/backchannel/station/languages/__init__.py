"""Languages: the channel glossary, agreed through the channel (docs/languages.md).

The texts in several languages themselves are the ledger's (``protocol/languages.py``,
the door's ``languages`` and ``shown_in`` hooks); this feature adds the glossary: its
items, the register folded from them, the check before sending, its desk and routes.
"""
