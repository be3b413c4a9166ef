"""The DroneDB Registry seen from the gateway: importing its users (and, later, its client)."""
