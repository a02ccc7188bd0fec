"""The Flask control plane."""
