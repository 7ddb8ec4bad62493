"""A station: the service that drives the channel core over the store, its web app,
delivery worker and settings.  See ``docs/station.md``."""
