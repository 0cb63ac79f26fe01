"""Race Control: chip reads in, live finish-line displays out."""

__version__ = "0.1.0"
