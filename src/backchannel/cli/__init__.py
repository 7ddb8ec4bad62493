"""The ``backchannel`` command line; it arrives with the station issue."""
