"""The service's configuration: one typed settings value read from the environment once at start-up."""
