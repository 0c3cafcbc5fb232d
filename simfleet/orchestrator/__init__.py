"""The control plane: scenario catalog, lifecycle and the single writer of sim.control."""
