"""Configuration: deployment settings from the environment, the YAML file, and the one error
type for bad configuration."""
