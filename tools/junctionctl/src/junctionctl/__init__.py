"""junctionctl: the platform's command line."""
