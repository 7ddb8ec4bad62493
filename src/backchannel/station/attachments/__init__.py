"""Attachments: files an item carries, sent beside the envelopes (docs/attachments.md)."""
