"""Junction's shared library: what every service is built from."""
