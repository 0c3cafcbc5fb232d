"""simctl: the command line of simfleet."""
