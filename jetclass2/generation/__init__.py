"""Generation stage: samples and their grids (grid points), the Pythia 8 driver (generator
records), the minimum-bias pile-up library and MadGraph card rendering for the container path."""
