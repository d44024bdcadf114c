"""services/api."""
