# Delphes converter card for the pile-up file of the container path (`run-container-job pileup`):
# DelphesPythia8 writes the stable generator particles of each minimum-bias event, which
# root2pileup turns into Delphes' pile-up format (read by PileUpMerger).
set ExecutionPath {
  TreeWriter
}

module TreeWriter TreeWriter {
  add Branch Delphes/stableParticles Particle GenParticle
}
