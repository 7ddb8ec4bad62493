"""Leak scanning: the sealed index of the archive, scans of published texts, the
violations register, and joint investigation with the counterpart.  See docs/leaks.md."""
