from .dates import year_of

__all__ = ["year_of"]
