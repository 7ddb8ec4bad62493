"""Persistence of a station's state; the store arrives with the station issue."""
