"""Route modules, one per area of the WOPI REST API and the host's own API."""
