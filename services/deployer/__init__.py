"""services/deployer."""
