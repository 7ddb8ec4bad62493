"""Canary attribution: which items a leaked copy holds, and whose rendering it came from."""
