"""The bottom of the data layer: the declarative base and column types every table uses."""
