"""gridpatrol: GPS pings in, patrol facts out."""

__version__ = "0.1.0"
