"""Embedded event generation with Pythia 8: samples and grids, the Pythia driver, the pile-up library."""
