// DelphesPythia8Batches: Pythia 8 -> Delphes for many batches in one process, one output file.
//
// Usage: DelphesPythia8Batches DELPHES_CARD BATCH_LIST OUTPUT
//   BATCH_LIST: one batch per line, "PYTHIA_CARD DELPHES_SEED" (a batch's card sets its own
//   Main:numberOfEvents, Random:seed, decay tables and Beams:LHEF).
//
// Why: the container job used to run DelphesPythia8 (Delphes 3.5.0, readers/DelphesPythia8.cpp)
// once per 100-event batch; ~1.1 s of CPU per batch was its start-up (ROOT, the Delphes card and
// modules, Pythia's XML database), a fifth of the batch. This program pays it once per run and
// otherwise does per batch what DelphesPythia8 does, in the same order, so that every batch's
// events are those of DelphesPythia8 on that batch:
//   - a fresh Pythia per batch, copied from a pristine, never-initialised one (the settings and
//     particle data as read from the XML), then the batch's card, init();
//   - ROOT's gRandom reseeded with the batch's seed right before its events (DelphesPythia8 gets
//     it as the card's RandomSeed, which Delphes::InitTask passes to gRandom->SetSeed; no module
//     of the card draws random numbers before the first event);
//   - the LHEF reader opened on the batch's Beams:LHEF file when it opens (as DelphesPythia8 does);
//   - Event.Number counted from 0 in every batch;
//   - one difference: without an LHE event (Pythia alone, QCD), EventLHEF holds zeros where
//     DelphesPythia8 writes uninitialised memory (see noLHEFEvent).
// Checked against DelphesPythia8 per batch: benchmarks/bench_delphes_batches.py and
// tests/test_delphes_batches.py (every branch of every event equal, except the stopwatch times and
// the EventLHEF of Pythia-alone events).
//
// A batch that ends with fewer events than its Main:numberOfEvents (end of the LHE file, too many
// Pythia errors) stops the run with exit status 3 and a line naming the batch card; bad arguments
// exit 2. The output is written to OUTPUT as given: the caller renames it when complete.

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "Pythia8/Pythia.h"

#include "TApplication.h"
#include "TDatabasePDG.h"
#include "TFile.h"
#include "TObjArray.h"
#include "TParticlePDG.h"
#include "TROOT.h"
#include "TRandom.h"
#include "TStopwatch.h"

#include "classes/DelphesClasses.h"
#include "classes/DelphesFactory.h"
#include "classes/DelphesLHEFReader.h"
#include "modules/Delphes.h"

#include "ExRootAnalysis/ExRootConfReader.h"
#include "ExRootAnalysis/ExRootTreeBranch.h"
#include "ExRootAnalysis/ExRootTreeWriter.h"

namespace {

struct Batch {
  std::string card;
  unsigned int seed;
};

struct Arrays {
  TObjArray *all = nullptr, *stable = nullptr, *partons = nullptr;
};

volatile std::sig_atomic_t stopRequested = 0;
void onSignal(int) { stopRequested = 1; }

class BatchError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::vector<Batch> readBatches(const char *path) {
  std::ifstream in(path);
  if(!in) throw std::invalid_argument(std::string(path) + ": cannot read the batch list");
  std::vector<Batch> batches;
  std::string line;
  int lineNumber = 0;
  while(std::getline(in, line)) {
    ++lineNumber;
    if(line.find_first_not_of(" \t\r") == std::string::npos) continue;
    std::istringstream fields(line);
    Batch b;
    long long seed = -1;
    std::string rest;
    if(!(fields >> b.card >> seed) || (fields >> rest) || seed < 1 || seed > 900000000) {
      std::ostringstream msg;
      msg << path << ": line " << lineNumber << ": expected 'PYTHIA_CARD DELPHES_SEED' (seed 1..900000000)";
      throw std::invalid_argument(msg.str());
    }
    b.seed = static_cast<unsigned int>(seed);
    batches.push_back(b);
  }
  if(batches.empty()) throw std::invalid_argument(std::string(path) + ": no batches");
  return batches;
}

// The generator record -> Delphes candidates and the Event branch, field for field as
// DelphesPythia8 fills them (its ConvertInput), so the trees are alike.
void convertEvent(Long64_t number, Pythia8::Pythia &pythia, ExRootTreeBranch *branch, DelphesFactory *factory,
                  const Arrays &out, TStopwatch &readWatch, TStopwatch &procWatch) {
  auto *event = static_cast<HepMCEvent *>(branch->NewEntry());
  const Pythia8::Info &info = pythia.info;
  event->Number = number;
  event->ProcessID = info.code();
  event->MPI = 1;
  event->Weight = info.weight();
  event->Scale = info.QRen();
  event->AlphaQED = info.alphaEM();
  event->AlphaQCD = info.alphaS();
  event->ID1 = info.id1();
  event->ID2 = info.id2();
  event->X1 = info.x1();
  event->X2 = info.x2();
  event->ScalePDF = info.QFac();
  event->PDF1 = info.pdf1();
  event->PDF2 = info.pdf2();
  event->ReadTime = readWatch.RealTime();
  event->ProcTime = procWatch.RealTime();

  TDatabasePDG *pdg = TDatabasePDG::Instance();
  for(int i = 1; i < pythia.event.size(); ++i) {
    const Pythia8::Particle &p = pythia.event[i];
    Candidate *c = factory->NewCandidate();
    c->PID = p.id();
    c->Status = p.statusHepMC();
    c->M1 = p.mother1() - 1;
    c->M2 = p.mother2() - 1;
    c->D1 = p.daughter1() - 1;
    c->D2 = p.daughter2() - 1;
    TParticlePDG *known = pdg->GetParticle(p.id());
    c->Charge = known ? Int_t(known->Charge() / 3.0) : -999;
    c->Mass = p.m();
    c->Momentum.SetPxPyPzE(p.px(), p.py(), p.pz(), p.e());
    c->Position.SetXYZT(p.xProd(), p.yProd(), p.zProd(), p.tProd());
    out.all->Add(c);
    if(!known) continue;
    const int absPid = TMath::Abs(c->PID);
    if(c->Status == 1)
      out.stable->Add(c);
    else if(absPid <= 5 || absPid == 21 || absPid == 15)
      out.partons->Add(c);
  }
}

// The EventLHEF entry of an event that has no LHE event (Pythia alone, Beams:LHEF = /dev/null).
// DelphesPythia8 lets its LHEF reader fill it from members no event has set (uninitialised
// memory, different run to run); here they are the reader's defaults, zero and a cross-section of 1.
void noLHEFEvent(Long64_t number, ExRootTreeBranch *branch, TStopwatch &readWatch, TStopwatch &procWatch) {
  auto *event = static_cast<LHEFEvent *>(branch->NewEntry());
  event->Number = number;
  event->ProcessID = 0;
  event->Weight = 0;
  event->CrossSection = 1;
  event->ScalePDF = 0;
  event->AlphaQED = 0;
  event->AlphaQCD = 0;
  event->ReadTime = readWatch.RealTime();
  event->ProcTime = procWatch.RealTime();
}

}  // namespace

int main(int argc, char *argv[]) {
  if(argc != 4) {
    std::cerr << "usage: DelphesPythia8Batches DELPHES_CARD BATCH_LIST OUTPUT\n"
                 "  BATCH_LIST: one line per batch, 'PYTHIA_CARD DELPHES_SEED'\n";
    return 2;
  }
  std::signal(SIGINT, onSignal);
  std::signal(SIGTERM, onSignal);

  std::vector<Batch> batches;
  try {
    batches = readBatches(argv[2]);
  } catch(std::exception &e) {
    std::cerr << "DelphesPythia8Batches: error: " << e.what() << std::endl;
    return 2;
  }

  gROOT->SetBatch();
  int appArgc = 1;
  char appName[] = "DelphesPythia8Batches";
  char *appArgv[] = {appName};
  TApplication app(appName, &appArgc, appArgv);

  TFile *outputFile = nullptr;
  ExRootTreeWriter *treeWriter = nullptr;
  int status = 0;
  try {
    outputFile = TFile::Open(argv[3], "CREATE");
    if(!outputFile) throw std::invalid_argument(std::string(argv[3]) + ": cannot create the output file (does it exist?)");
    treeWriter = new ExRootTreeWriter(outputFile, "Delphes");
    ExRootTreeBranch *branchEvent = treeWriter->NewBranch("Event", HepMCEvent::Class());

    ExRootConfReader confReader;
    confReader.ReadFile(argv[1]);
    Delphes delphes("Delphes");
    delphes.SetConfReader(&confReader);
    delphes.SetTreeWriter(treeWriter);
    DelphesFactory *factory = delphes.GetFactory();
    Arrays out{delphes.ExportArray("allParticles"), delphes.ExportArray("stableParticles"), delphes.ExportArray("partons")};

    // Pythia's XML database read once; every batch starts from a copy of it.
    Pythia8::Pythia pristine("../share/Pythia8/xmldoc", false);
    if(!pristine.settings.isMode("Main:numberOfEvents")) throw std::runtime_error("Pythia's XML database could not be read (PYTHIA8DATA?)");

    // DelphesPythia8 writes the LHEF branches when the card's Beams:LHEF opens; all batches of a
    // run must agree, since a tree has one set of branches.
    auto lhefPath = [&](const Batch &b) {
      Pythia8::Pythia probe(pristine.settings, pristine.particleData, false);
      if(!probe.readFile(b.card)) throw BatchError(b.card + ": cannot read the Pythia card");
      return probe.word("Beams:LHEF");
    };
    auto opens = [](const std::string &path) {
      FILE *f = std::fopen(path.c_str(), "r");
      if(f) std::fclose(f);
      return f != nullptr;
    };
    const bool withLHEF = opens(lhefPath(batches.front()));
    ExRootTreeBranch *branchEventLHEF = nullptr, *branchWeightLHEF = nullptr;
    Arrays lhefOut;
    if(withLHEF) {
      branchEventLHEF = treeWriter->NewBranch("EventLHEF", LHEFEvent::Class());
      branchWeightLHEF = treeWriter->NewBranch("WeightLHEF", LHEFWeight::Class());
      lhefOut = Arrays{delphes.ExportArray("allParticlesLHEF"), delphes.ExportArray("stableParticlesLHEF"),
                       delphes.ExportArray("partonsLHEF")};
    }
    delphes.InitTask();

    TStopwatch readWatch, procWatch;
    for(std::size_t ib = 0; ib < batches.size() && !stopRequested; ++ib) {
      const Batch &b = batches[ib];
      Pythia8::Pythia pythia(pristine.settings, pristine.particleData, false);
      if(!pythia.readFile(b.card)) throw BatchError(b.card + ": cannot read the Pythia card");
      if(pythia.flag("Main:spareFlag1")) throw BatchError(b.card + ": particle guns (Main:spareFlag1) are not supported");
      const Long64_t wanted = pythia.mode("Main:numberOfEvents");
      const Long64_t allowedErrors = pythia.mode("Main:timesAllowErrors");

      FILE *lhe = std::fopen(pythia.word("Beams:LHEF").c_str(), "r");
      if((lhe != nullptr) != withLHEF) {
        if(lhe) std::fclose(lhe);
        throw BatchError(b.card + ": its Beams:LHEF " + (withLHEF ? "does not open" : "opens") +
                         " and the first batch's does not: one run, one set of branches");
      }
      DelphesLHEFReader *reader = nullptr;
      if(lhe) {
        reader = new DelphesLHEFReader;
        reader->SetInputFile(lhe);  // the reader closes it
      }

      if(!pythia.init()) {
        delete reader;
        throw BatchError(b.card + ": Pythia initialisation failed");
      }
      gRandom->SetSeed(b.seed);
      treeWriter->Clear();
      delphes.Clear();

      Long64_t n = 0, errors = 0;
      readWatch.Start();
      while(n < wanted && !stopRequested) {
        while(reader && reader->ReadBlock(factory, lhefOut.all, lhefOut.stable, lhefOut.partons) && !reader->EventReady())
          ;
        if(!pythia.next()) {
          if(pythia.info.atEndOfFile()) break;
          if(++errors > allowedErrors) break;
          delphes.Clear();
          if(reader) reader->Clear();
          continue;
        }
        readWatch.Stop();
        procWatch.Start();
        convertEvent(n, pythia, branchEvent, factory, out, readWatch, procWatch);
        delphes.ProcessTask();
        procWatch.Stop();
        if(reader && reader->EventReady()) {
          reader->AnalyzeEvent(branchEventLHEF, n, &readWatch, &procWatch);
          reader->AnalyzeWeight(branchWeightLHEF);
        } else if(reader) {
          noLHEFEvent(n, branchEventLHEF, readWatch, procWatch);
        }
        treeWriter->Fill();
        treeWriter->Clear();
        delphes.Clear();
        if(reader) reader->Clear();
        readWatch.Start();
        ++n;
      }
      delete reader;
      if(stopRequested) break;
      if(n < wanted) {
        std::ostringstream msg;
        msg << b.card << ": " << n << " events, " << wanted << " asked ("
            << (pythia.info.atEndOfFile() ? "end of the LHE file" : "too many Pythia errors") << ")";
        throw BatchError(msg.str());
      }
      pythia.stat();
      std::cout << "DelphesPythia8Batches: batch " << ib + 1 << "/" << batches.size() << " " << b.card << ": " << n
                << " events" << std::endl;
    }
    if(stopRequested) {
      std::cerr << "DelphesPythia8Batches: error: interrupted; " << argv[3] << " is incomplete" << std::endl;
      status = 130;
    } else {
      delphes.FinishTask();
      treeWriter->Write();
    }
  } catch(std::invalid_argument &e) {
    std::cerr << "DelphesPythia8Batches: error: " << e.what() << std::endl;
    status = 2;
  } catch(std::exception &e) {
    std::cerr << "DelphesPythia8Batches: error: " << e.what() << std::endl;
    status = 3;
  }
  delete treeWriter;
  delete outputFile;
  return status;
}
