"""Use cases: commands in, domain objects out; they talk to the world only through ports."""
