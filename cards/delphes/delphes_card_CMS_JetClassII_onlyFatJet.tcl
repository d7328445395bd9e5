########################################################################################
# Delphes card for the container path of the JetClass-II production workflow.
#
# CMS-like Run 2/3 detector with a mean pile-up of 50 and PUPPI, following the settings of
# the JetClass-II production (jet-universe/jetclass2_generation, "onlyFatJet" variant):
# only the generator record, the PUPPI candidates, the AK8/AK15 jets, missing ET and the
# vertices are written. The same numbers drive the embedded fast simulation
# (cards/delphes/fastsim_CMS_JetClassII.yaml); change both together.
#
# containers/run-container-job replaces the pile-up file name and MeanPileUp below (the workflow's
# pile-up file, detector.pileup_mean) and adds a per-batch RandomSeed (docs/container.md).
# Units: GeV, m, s (Delphes conventions).
########################################################################################

set ExecutionPath {
  PileUpMerger
  ParticlePropagator

  ChargedHadronTrackingEfficiency
  ElectronTrackingEfficiency
  MuonTrackingEfficiency

  ChargedHadronMomentumSmearing
  ElectronMomentumSmearing
  MuonMomentumSmearing

  TrackMerger
  TrackSmearing

  ECal
  HCal

  ElectronFilter
  TrackPileUpSubtractor
  RecoPuFilter

  NeutralEFlowMerger
  EFlowMerger

  LeptonFilterNoLep
  LeptonFilterLep
  RunPUPPIBase
  RunPUPPIMerger
  RunPUPPI
  EFlowFilterPuppi

  MissingET
  PuppiMissingET
  GenPileUpMissingET
  ScalarHT

  NeutrinoFilter
  GenJetFinderAK8
  GenJetFinderAK15
  GenMissingET

  FastJetFinderPUPPIAK8
  FastJetFinderPUPPIAK15
  JetEnergyScalePUPPIAK8
  JetEnergyScalePUPPIAK15

  TreeWriter
}

#--------------------------------------------------------------------------------------
# Helpers (plain Tcl, evaluated when Delphes reads the card)
#--------------------------------------------------------------------------------------

# Piecewise-constant resolution in (|eta|, pT): one row of values per |eta| upper edge,
# one value per pT lower edge (the last pT bin is open). Returns a Delphes formula string.
proc binned_resolution {etaEdges ptEdges rows} {
  set terms {}
  set etaLow 0.0
  foreach etaHigh $etaEdges row $rows {
    set n [llength $ptEdges]
    for {set i 0} {$i < $n} {incr i} {
      set ptLow [lindex $ptEdges $i]
      set value [lindex $row $i]
      if {$i < $n - 1} {
        set ptHigh [lindex $ptEdges [expr {$i + 1}]]
        lappend terms "( abs(eta) > $etaLow && abs(eta) <= $etaHigh ) * ( pt > $ptLow && pt <= $ptHigh ) * $value"
      } else {
        lappend terms "( abs(eta) > $etaLow && abs(eta) <= $etaHigh ) * ( pt > $ptLow ) * $value"
      }
    }
    set etaLow $etaHigh
  }
  return [join $terms " + "]
}

# Equal phi bins: n bins covering [-pi, pi].
proc phi_edges {n} {
  set pi [expr {acos(-1)}]
  set edges {}
  for {set i [expr {-$n / 2}]} {$i <= $n / 2} {incr i} {
    lappend edges [expr {$i * 2.0 * $pi / $n}]
  }
  return $edges
}

# Impact-parameter resolution tables [mm] of the JetClass-II TrackSmearing step.
set ::ipEtaEdges {0.9 1.4 2.5}
set ::ipPtEdges {0.1823 0.2227 0.272 0.3323 0.406 0.4959 0.6058 0.7401 0.9041 1.1044 1.3492 1.6481 2.0134 2.4595 3.0045 3.6703 4.4837 5.4772 6.691 8.1737 9.9849 12.1976 14.9005 18.2024 22.236 27.1635 33.1828 40.536 49.5187 60.4919 73.8967 90.272 110.276 134.713}
set ::d0Rows {
  {0.3543 0.2809 0.2304 0.1917 0.1737 0.1434 0.106 0.0893 0.0753 0.067 0.0577 0.0524 0.0452 0.0376 0.035 0.0324 0.0283 0.0258 0.0237 0.0211 0.0191 0.0164 0.015 0.0143 0.013 0.013 0.0116 0.0116 0.011 0.011 0.011 0.0104 0.0109 0.011}
  {0.4564 0.358 0.301 0.2353 0.2026 0.1595 0.1383 0.1119 0.0926 0.0816 0.0663 0.0553 0.0488 0.0431 0.0399 0.0357 0.0313 0.0277 0.0233 0.0221 0.0214 0.018 0.0155 0.0141 0.0128 0.0134 0.0121 0.0108 0.0101 0.0101 0.0101 0.0102 0.0088 0.0095}
  {0.697 0.6046 0.5315 0.4306 0.3398 0.2788 0.2387 0.1814 0.1557 0.123 0.1009 0.0914 0.0767 0.0638 0.0544 0.0468 0.0425 0.0385 0.0331 0.0278 0.0256 0.0236 0.0217 0.0196 0.0176 0.0165 0.0157 0.015 0.0144 0.0144 0.0137 0.013 0.0137 0.0137}
}
set ::dzRows {
  {0.3693 0.3135 0.3125 0.2578 0.2221 0.1936 0.1686 0.1351 0.1113 0.0983 0.0882 0.0786 0.0684 0.0615 0.0551 0.0516 0.0484 0.045 0.0416 0.0416 0.0382 0.035 0.0317 0.0316 0.0316 0.0316 0.0348 0.0316 0.0316 0.0316 0.0284 0.0283 0.0315 0.0318}
  {0.7062 0.601 0.5992 0.4959 0.3877 0.3199 0.2649 0.2518 0.1982 0.1587 0.1399 0.1199 0.1031 0.0967 0.0805 0.0736 0.0707 0.0603 0.0609 0.0541 0.0511 0.0443 0.0409 0.0408 0.0409 0.0377 0.0375 0.0377 0.0342 0.0342 0.0343 0.0343 0.0309 0.031}
  {2.1717 2.0715 2.0679 1.7679 1.4393 1.1997 0.98 0.8251 0.6695 0.5545 0.4366 0.3711 0.3319 0.2721 0.2443 0.2085 0.1816 0.1641 0.1451 0.1317 0.1117 0.102 0.1017 0.0983 0.0882 0.0847 0.0814 0.0784 0.0817 0.075 0.0816 0.082 0.0814 0.085}
}

#--------------------------------------------------------------------------------------
# Pile-up: Poisson(50) minimum-bias events, vertices Gaussian in z (53 mm) and t (160 ps)
#--------------------------------------------------------------------------------------
module PileUpMerger PileUpMerger {
  set InputArray Delphes/stableParticles
  set ParticleOutputArray stableParticles
  set VertexOutputArray vertices

  set PileUpFile MinBias_100k.pileup
  set MeanPileUp 50
  # window in which vertices are generated, then the shape within it
  set ZVertexSpread 0.25
  set TVertexSpread 800E-12
  set VertexDistributionFormula {exp(-(t^2/160e-12^2/2))*exp(-(z^2/0.053^2/2))}
}

#--------------------------------------------------------------------------------------
# Solenoid: 3.8 T, tracker volume radius 1.29 m, half length 3 m
#--------------------------------------------------------------------------------------
module ParticlePropagator ParticlePropagator {
  set InputArray PileUpMerger/stableParticles
  set OutputArray stableParticles
  set NeutralOutputArray neutralParticles
  set ChargedHadronOutputArray chargedHadrons
  set ElectronOutputArray electrons
  set MuonOutputArray muons

  set Radius 1.29
  set HalfLength 3.00
  set Bz 3.8
}

#--------------------------------------------------------------------------------------
# Tracking efficiencies (|eta| < 2.5, pT > 0.1 GeV)
#--------------------------------------------------------------------------------------
module Efficiency ChargedHadronTrackingEfficiency {
  set InputArray ParticlePropagator/chargedHadrons
  set OutputArray chargedHadrons
  set EfficiencyFormula {
    (abs(eta) <= 1.5) * (pt > 0.1 && pt <= 1.0) * 0.70 +
    (abs(eta) <= 1.5) * (pt > 1.0) * 0.95 +
    (abs(eta) > 1.5 && abs(eta) <= 2.5) * (pt > 0.1 && pt <= 1.0) * 0.60 +
    (abs(eta) > 1.5 && abs(eta) <= 2.5) * (pt > 1.0) * 0.85
  }
}

module Efficiency ElectronTrackingEfficiency {
  set InputArray ParticlePropagator/electrons
  set OutputArray electrons
  set EfficiencyFormula {
    (abs(eta) <= 1.5) * (pt > 0.1 && pt <= 1.0) * 0.73 +
    (abs(eta) <= 1.5) * (pt > 1.0 && pt <= 1.0e2) * 0.95 +
    (abs(eta) <= 1.5) * (pt > 1.0e2) * 0.99 +
    (abs(eta) > 1.5 && abs(eta) <= 2.5) * (pt > 0.1 && pt <= 1.0) * 0.50 +
    (abs(eta) > 1.5 && abs(eta) <= 2.5) * (pt > 1.0 && pt <= 1.0e2) * 0.83 +
    (abs(eta) > 1.5 && abs(eta) <= 2.5) * (pt > 1.0e2) * 0.90
  }
}

module Efficiency MuonTrackingEfficiency {
  set InputArray ParticlePropagator/muons
  set OutputArray muons
  set EfficiencyFormula {
    (abs(eta) <= 1.5) * (pt > 0.1 && pt <= 1.0) * 0.75 +
    (abs(eta) <= 1.5) * (pt > 1.0 && pt <= 1.0e3) * 0.99 +
    (abs(eta) <= 1.5) * (pt > 1.0e3) * (0.99 * exp(0.5 - pt*5.0e-4)) +
    (abs(eta) > 1.5 && abs(eta) <= 2.5) * (pt > 0.1 && pt <= 1.0) * 0.70 +
    (abs(eta) > 1.5 && abs(eta) <= 2.5) * (pt > 1.0 && pt <= 1.0e3) * 0.98 +
    (abs(eta) > 1.5 && abs(eta) <= 2.5) * (pt > 1.0e3) * (0.98 * exp(0.5 - pt*5.0e-4))
  }
}

#--------------------------------------------------------------------------------------
# Relative pT resolutions sqrt(a^2 + (b pT)^2)
#--------------------------------------------------------------------------------------
module MomentumSmearing ChargedHadronMomentumSmearing {
  set InputArray ChargedHadronTrackingEfficiency/chargedHadrons
  set OutputArray chargedHadrons
  set ResolutionFormula {
    (abs(eta) <= 0.5) * (pt > 0.1) * sqrt(0.06^2 + pt^2*1.3e-3^2) +
    (abs(eta) > 0.5 && abs(eta) <= 1.5) * (pt > 0.1) * sqrt(0.10^2 + pt^2*1.7e-3^2) +
    (abs(eta) > 1.5 && abs(eta) <= 2.5) * (pt > 0.1) * sqrt(0.25^2 + pt^2*3.1e-3^2)
  }
}

module MomentumSmearing ElectronMomentumSmearing {
  set InputArray ElectronTrackingEfficiency/electrons
  set OutputArray electrons
  set ResolutionFormula {
    (abs(eta) <= 0.5) * (pt > 0.1) * sqrt(0.03^2 + pt^2*1.3e-3^2) +
    (abs(eta) > 0.5 && abs(eta) <= 1.5) * (pt > 0.1) * sqrt(0.05^2 + pt^2*1.7e-3^2) +
    (abs(eta) > 1.5 && abs(eta) <= 2.5) * (pt > 0.1) * sqrt(0.15^2 + pt^2*3.1e-3^2)
  }
}

module MomentumSmearing MuonMomentumSmearing {
  set InputArray MuonTrackingEfficiency/muons
  set OutputArray muons
  set ResolutionFormula {
    (abs(eta) <= 0.5) * (pt > 0.1) * sqrt(0.01^2 + pt^2*1.0e-4^2) +
    (abs(eta) > 0.5 && abs(eta) <= 1.5) * (pt > 0.1) * sqrt(0.015^2 + pt^2*1.5e-4^2) +
    (abs(eta) > 1.5 && abs(eta) <= 2.5) * (pt > 0.1) * sqrt(0.025^2 + pt^2*3.5e-4^2)
  }
}

module Merger TrackMerger {
  add InputArray ChargedHadronMomentumSmearing/chargedHadrons
  add InputArray ElectronMomentumSmearing/electrons
  add InputArray MuonMomentumSmearing/muons
  set OutputArray tracks
}

#--------------------------------------------------------------------------------------
# Impact parameters: d0 and dz smeared with the binned tables above; momentum, angles
# untouched (their resolution formulas are 0, which also leaves the tracks without a
# momentum uncertainty for the energy-flow merging in the calorimeters)
#--------------------------------------------------------------------------------------
module TrackSmearing TrackSmearing {
  set InputArray TrackMerger/tracks
  set OutputArray tracks
  set Bz 3.8
  set PResolutionFormula { 0.0 }
  set CtgThetaResolutionFormula { 0.0 }
  set PhiResolutionFormula { 0.0 }
  set D0ResolutionFormula [binned_resolution $::ipEtaEdges $::ipPtEdges $::d0Rows]
  set DZResolutionFormula [binned_resolution $::ipEtaEdges $::ipPtEdges $::dzRows]
}

#--------------------------------------------------------------------------------------
# ECAL: 0.0174 x 1 degree up to |eta| = 2.958, 0.175 x 10 degrees in the forward region
#--------------------------------------------------------------------------------------
module SimpleCalorimeter ECal {
  set ParticleInputArray ParticlePropagator/stableParticles
  set TrackInputArray TrackSmearing/tracks

  set TowerOutputArray ecalTowers
  set EFlowTrackOutputArray eflowTracks
  set EFlowTowerOutputArray eflowPhotons

  set IsEcal true
  set EnergyMin 0.5
  set EnergySignificanceMin 2.0
  set SmearTowerCenter true

  # each entry: upper eta edge of a ring and the phi edges of its cells
  set fine [phi_edges 360]
  for {set i -85} {$i <= 86} {incr i} {
    add EtaPhiBins [expr {$i * 0.0174}] $fine
  }
  for {set i 1} {$i <= 84} {incr i} {
    add EtaPhiBins [expr {-2.958 + $i * 0.0174}] $fine
    add EtaPhiBins [expr {1.4964 + $i * 0.0174}] $fine
  }
  set coarse [phi_edges 36]
  foreach eta {-5 -4.7 -4.525 -4.35 -4.175 -4 -3.825 -3.65 -3.475 -3.3 -3.125 -2.958 3.125 3.3 3.475 3.65 3.825 4 4.175 4.35 4.525 4.7 5} {
    add EtaPhiBins $eta $coarse
  }

  # {|PDG code|} {fraction of the energy deposited here}; the default entry (0) covers hadrons
  add EnergyFraction {0} {0.0}
  add EnergyFraction {11} {1.0}
  add EnergyFraction {22} {1.0}
  add EnergyFraction {111} {1.0}
  foreach invisible {12 13 14 16 1000022 1000023 1000025 1000035 1000045} {
    add EnergyFraction $invisible {0.0}
  }
  add EnergyFraction {310} {0.3}
  add EnergyFraction {3122} {0.3}

  set ResolutionFormula {
    (abs(eta) <= 1.5) * (1+0.64*eta^2) * sqrt(energy^2*0.008^2 + energy*0.11^2 + 0.40^2) +
    (abs(eta) > 1.5 && abs(eta) <= 2.5) * (2.16 + 5.6*(abs(eta)-2)^2) * sqrt(energy^2*0.008^2 + energy*0.11^2 + 0.40^2) +
    (abs(eta) > 2.5 && abs(eta) <= 5.0) * sqrt(energy^2*0.107^2 + energy*2.08^2)
  }
}

#--------------------------------------------------------------------------------------
# HCAL: 0.087 x 5 degrees in the barrel, 10 and 20 degrees towards the forward region
#--------------------------------------------------------------------------------------
module SimpleCalorimeter HCal {
  set ParticleInputArray ParticlePropagator/stableParticles
  set TrackInputArray ECal/eflowTracks

  set TowerOutputArray hcalTowers
  set EFlowTrackOutputArray eflowTracks
  set EFlowTowerOutputArray eflowNeutralHadrons

  set IsEcal false
  set EnergyMin 1.0
  set EnergySignificanceMin 1.0
  set SmearTowerCenter true

  set cells [phi_edges 72]
  foreach eta {-1.566 -1.479 -1.392 -1.305 -1.218 -1.131 -1.044 -0.957 -0.87 -0.783 -0.696 -0.609 -0.522 -0.435 -0.348 -0.261 -0.174 -0.087 0 0.087 0.174 0.261 0.348 0.435 0.522 0.609 0.696 0.783 0.87 0.957 1.044 1.131 1.218 1.305 1.392 1.479 1.566 1.653} {
    add EtaPhiBins $eta $cells
  }
  set cells [phi_edges 36]
  foreach eta {-4.35 -4.175 -4 -3.825 -3.65 -3.475 -3.3 -3.125 -2.95 -2.868 -2.65 -2.5 -2.322 -2.172 -2.043 -1.93 -1.83 -1.74 -1.653 1.74 1.83 1.93 2.043 2.172 2.322 2.5 2.65 2.868 2.95 3.125 3.3 3.475 3.65 3.825 4 4.175 4.35 4.525} {
    add EtaPhiBins $eta $cells
  }
  set cells [phi_edges 18]
  foreach eta {-5 -4.7 -4.525 4.7 5} {
    add EtaPhiBins $eta $cells
  }

  add EnergyFraction {0} {1.0}
  foreach electromagnetic {11 22 111} {
    add EnergyFraction $electromagnetic {0.0}
  }
  foreach invisible {12 13 14 16 1000022 1000023 1000025 1000035 1000045} {
    add EnergyFraction $invisible {0.0}
  }
  add EnergyFraction {310} {0.7}
  add EnergyFraction {3122} {0.7}

  set ResolutionFormula {
    (abs(eta) <= 3.0) * sqrt(energy^2*0.050^2 + energy*1.50^2) +
    (abs(eta) > 3.0 && abs(eta) <= 5.0) * sqrt(energy^2*0.130^2 + energy*2.70^2)
  }
}

#--------------------------------------------------------------------------------------
# Charged-hadron subtraction and energy-flow collections
#--------------------------------------------------------------------------------------
module PdgCodeFilter ElectronFilter {
  set InputArray HCal/eflowTracks
  set OutputArray electrons
  set Invert true
  add PdgCode {11}
  add PdgCode {-11}
}

# tracks of pile-up particles farther than 0.1 mm in z from the primary vertex are flagged
module TrackPileUpSubtractor TrackPileUpSubtractor {
  add InputArray HCal/eflowTracks eflowTracks
  add InputArray ElectronFilter/electrons electrons
  add InputArray MuonMomentumSmearing/muons muons
  set VertexInputArray PileUpMerger/vertices
  set ZVertexResolution {0.0001}
}

module RecoPuFilter RecoPuFilter {
  set InputArray HCal/eflowTracks
  set OutputArray eflowTracks
}

module Merger NeutralEFlowMerger {
  add InputArray ECal/eflowPhotons
  add InputArray HCal/eflowNeutralHadrons
  set OutputArray eflowTowers
}

module Merger EFlowMerger {
  add InputArray HCal/eflowTracks
  add InputArray ECal/eflowPhotons
  add InputArray HCal/eflowNeutralHadrons
  set OutputArray eflow
}

#--------------------------------------------------------------------------------------
# PUPPI: leptons bypass it and are added back; CHS on; two eta regions
#--------------------------------------------------------------------------------------
module PdgCodeFilter LeptonFilterNoLep {
  set InputArray HCal/eflowTracks
  set OutputArray eflowTracksNoLeptons
  set Invert false
  foreach code {13 -13 11 -11} {
    add PdgCode $code
  }
}

module PdgCodeFilter LeptonFilterLep {
  set InputArray HCal/eflowTracks
  set OutputArray eflowTracksLeptons
  set Invert true
  foreach code {11 -11 13 -13} {
    add PdgCode $code
  }
}

module RunPUPPI RunPUPPIBase {
  set TrackInputArray   LeptonFilterNoLep/eflowTracksNoLeptons
  set NeutralInputArray NeutralEFlowMerger/eflowTowers
  set PVInputArray      PileUpMerger/vertices
  set MinPuppiWeight    0.05
  set UseExp            false
  set UseNoLep          false

  # one column per region: |eta| in [0, 2.5] and [2.5, 10]
  add EtaMinBin           0.0   2.5
  add EtaMaxBin           2.5   10.0
  add PtMinBin            0.0   0.0
  add ConeSizeBin         0.4   0.4
  add RMSPtMinBin         0.1   0.5
  add RMSScaleFactorBin   1.0   1.0
  add NeutralMinEBin      0.2   0.2
  add NeutralPtSlope      0.006 0.013
  add ApplyCHS            true  true
  add UseCharged          true  true
  add ApplyLowPUCorr      true  true
  add MetricId            5     5
  add CombId              0     0

  set OutputArray         PuppiParticles
  set OutputArrayTracks   puppiTracks
  set OutputArrayNeutrals puppiNeutrals
}

module Merger RunPUPPIMerger {
  add InputArray RunPUPPIBase/PuppiParticles
  add InputArray LeptonFilterLep/eflowTracksLeptons
  set OutputArray PuppiParticles
}

# the leptons added back may come from pile-up vertices: drop those
module RecoPuFilter RunPUPPI {
  set InputArray RunPUPPIMerger/PuppiParticles
  set OutputArray PuppiParticles
}

module PdgCodeFilter EFlowFilterPuppi {
  set InputArray RunPUPPI/PuppiParticles
  set OutputArray eflow
  foreach code {11 -11 13 -13} {
    add PdgCode $code
  }
}

#--------------------------------------------------------------------------------------
# Missing ET and scalar HT
#--------------------------------------------------------------------------------------
module Merger MissingET {
  add InputArray EFlowMerger/eflow
  set MomentumOutputArray momentum
}

module Merger PuppiMissingET {
  add InputArray RunPUPPI/PuppiParticles
  set MomentumOutputArray momentum
}

module Merger GenPileUpMissingET {
  add InputArray ParticlePropagator/stableParticles
  set MomentumOutputArray momentum
}

module Merger ScalarHT {
  add InputArray RunPUPPI/PuppiParticles
  set EnergyOutputArray energy
}

#--------------------------------------------------------------------------------------
# Generator-level jets (neutrinos removed) and PUPPI jets: anti-kT R = 0.8 and 1.5 with
# N-subjettiness and soft drop (beta 0, z_cut 0.1)
#--------------------------------------------------------------------------------------
module PdgCodeFilter NeutrinoFilter {
  set InputArray Delphes/stableParticles
  set OutputArray filteredParticles
  set PTMin 0.0
  foreach code {12 14 16 -12 -14 -16} {
    add PdgCode $code
  }
}

module FastJetFinder GenJetFinderAK8 {
  set InputArray NeutrinoFilter/filteredParticles
  set OutputArray jets
  set JetAlgorithm 6
  set ParameterR 0.8
  set ComputeNsubjettiness 1
  set Beta 1.0
  set AxisMode 4
  set ComputeSoftDrop 1
  set BetaSoftDrop 0.0
  set SymmetryCutSoftDrop 0.1
  set R0SoftDrop 0.8
  set JetPTMin 200.0
}

module FastJetFinder GenJetFinderAK15 {
  set InputArray NeutrinoFilter/filteredParticles
  set OutputArray jets
  set JetAlgorithm 6
  set ParameterR 1.5
  set ComputeNsubjettiness 1
  set Beta 1.0
  set AxisMode 4
  set ComputeSoftDrop 1
  set BetaSoftDrop 0.0
  set SymmetryCutSoftDrop 0.1
  set R0SoftDrop 1.5
  set JetPTMin 120.0
}

module Merger GenMissingET {
  add InputArray NeutrinoFilter/filteredParticles
  set MomentumOutputArray momentum
}

module FastJetFinder FastJetFinderPUPPIAK8 {
  set InputArray RunPUPPI/PuppiParticles
  set OutputArray jets
  set JetAlgorithm 6
  set ParameterR 0.8
  set ComputeNsubjettiness 1
  set Beta 1.0
  set AxisMode 4
  set ComputeTrimming 1
  set RTrim 0.2
  set PtFracTrim 0.05
  set ComputePruning 1
  set ZcutPrun 0.1
  set RcutPrun 0.5
  set RPrun 0.8
  set ComputeSoftDrop 1
  set BetaSoftDrop 0.0
  set SymmetryCutSoftDrop 0.1
  set R0SoftDrop 0.8
  set JetPTMin 200.0
}

module FastJetFinder FastJetFinderPUPPIAK15 {
  set InputArray RunPUPPI/PuppiParticles
  set OutputArray jets
  set JetAlgorithm 6
  set ParameterR 1.5
  set ComputeNsubjettiness 1
  set Beta 1.0
  set AxisMode 4
  set ComputeTrimming 1
  set RTrim 0.2
  set PtFracTrim 0.05
  set ComputePruning 1
  set ZcutPrun 0.1
  set RcutPrun 0.5
  set RPrun 1.5
  set ComputeSoftDrop 1
  set BetaSoftDrop 0.0
  set SymmetryCutSoftDrop 0.1
  set R0SoftDrop 1.5
  set JetPTMin 120.0
}

module EnergyScale JetEnergyScalePUPPIAK8 {
  set InputArray FastJetFinderPUPPIAK8/jets
  set OutputArray jets
  set ScaleFormula {1.00}
}

module EnergyScale JetEnergyScalePUPPIAK15 {
  set InputArray FastJetFinderPUPPIAK15/jets
  set OutputArray jets
  set ScaleFormula {1.00}
}

#--------------------------------------------------------------------------------------
# Output: the branches the ntuplizer and the studies use
#--------------------------------------------------------------------------------------
module TreeWriter TreeWriter {
  add Branch Delphes/allParticles Particle GenParticle
  add Branch RunPUPPI/PuppiParticles ParticleFlowCandidate ParticleFlowCandidate

  add Branch GenJetFinderAK8/jets GenJetAK8 Jet
  add Branch GenJetFinderAK15/jets GenJetAK15 Jet
  add Branch GenMissingET/momentum GenMissingET MissingET
  add Branch GenPileUpMissingET/momentum GenPileUpMissingET MissingET

  add Branch JetEnergyScalePUPPIAK8/jets JetPUPPIAK8 Jet
  add Branch JetEnergyScalePUPPIAK15/jets JetPUPPIAK15 Jet

  add Branch MissingET/momentum MissingET MissingET
  add Branch PuppiMissingET/momentum PuppiMissingET MissingET
  add Branch ScalarHT/energy ScalarHT ScalarHT

  add Branch PileUpMerger/vertices Vertex Vertex
}
