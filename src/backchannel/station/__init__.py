"""The station server; it arrives with the station issue."""
