"""Load and throughput scripts that print comparable figures for the WOPI host."""
