"""livn: a testbed for learning to interact with simulated in vitro neural cultures."""

__version__ = "0.1.0"
