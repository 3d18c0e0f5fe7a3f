"""envrepro's version: a primitive, so the model layer can write it into MLmodel without importing the API."""

__version__ = "0.1.0"
