"""A Delphes card trimmed to the TreeWriter branches a consumer reads, with the same events in them.

Delphes runs every module of the card's ``ExecutionPath``; the TreeWriter writes the branches it
lists. :func:`trim_card` keeps the branches asked for (by default :data:`NTUPLE_BRANCHES`, what
the ntuplizer reads), every module they need (transitively) and drops a module no kept module
needs only when that is safe: its class is in :data:`DROPPABLE_CLASSES`. A module of any other
class stays, for two reasons found in Delphes 3.5.0's sources (``modules/*.cc``):

* the modules share ROOT's ``gRandom``, one stream through all events: dropping a module that
  draws from it would shift the numbers every later module and event gets;
* some modules change the candidates they read instead of writing new ones (``TrackPileUpSubtractor``
  sets ``IsRecoPU`` on ``HCal/eflowTracks``, which ``RecoPuFilter`` then reads): their effect is
  not visible as an ``InputArray`` reference.

A droppable module that creates candidates stays too when a kept module runs after it: the
candidates' ROOT object numbers (``fUniqueID``, which TRefs point to) count up through the event,
so dropping it would renumber the later ones (:data:`NO_NEW_CANDIDATES`). The kept branches are
then the same, leaf by leaf, as with the full card.

The card is parsed as far as needed (it is Tcl; Delphes evaluates it): ``set ExecutionPath {...}``,
``module CLASS NAME {...}`` blocks (braces matched), every ``Module/array`` word in a block naming
a module of the card as a dependency (an over-estimate keeps more, never less), and the
TreeWriter's ``add Branch Module/array NAME CLASS`` lines. The trimmed text is the card with the
``ExecutionPath`` list and the TreeWriter's dropped ``add Branch`` lines rewritten; the blocks of
dropped modules stay (Delphes configures only the modules of the path).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from jetclass2.delphes_tree import COLLECTIONS

#: The TreeWriter branches the ntuplizer reads (jetclass2.delphes_tree's collections).
NTUPLE_BRANCHES: tuple[str, ...] = tuple(COLLECTIONS)

#: Delphes 3.5.0 module classes that may be dropped when no kept module reads their outputs:
#: their ``modules/<Class>.cc`` draws no random number (no ``gRandom``, no ``TRandom``, no
#: TrackCovariance/Hector helper that does) and writes new candidates or output arrays only, never
#: changing a candidate it reads (Merger and PdgCodeFilter add the input candidates to their
#: arrays untouched, EnergyScale clones before scaling, FastJetFinder makes new jet candidates;
#: FastJetFinder's ghosted areas use FastJet's own generator, not gRandom). Classes not checked, and
#: those that change their inputs (TrackPileUpSubtractor sets IsRecoPU on them), are not listed.
DROPPABLE_CLASSES = frozenset({"Merger", "PdgCodeFilter", "EnergyScale", "FastJetFinder"})

#: Droppable classes that create no candidate (PdgCodeFilter only files the candidates it reads). Every
#: ``DelphesFactory::NewCandidate`` takes the event's next ROOT object number (written as ``fUniqueID``,
#: what TRefs point to): a dropped module that creates candidates (Merger: two a call, FastJetFinder,
#: EnergyScale) before a kept one would renumber the kept one's candidates, so it goes only when it runs
#: after every kept module.
NO_NEW_CANDIDATES = frozenset({"PdgCodeFilter"})

#: Arrays of Delphes' own reader (``Delphes/allParticles``, ``Delphes/stableParticles``, ...): no module makes them.
READER = "Delphes"
WRITER_CLASS = "TreeWriter"

_MODULE = re.compile(r"^[ \t]*module[ \t]+(\S+)[ \t]+(\S+)[ \t]*\{", re.MULTILINE)
_PATH = re.compile(r"^[ \t]*set[ \t]+ExecutionPath[ \t]*\{", re.MULTILINE)
_REFERENCE = re.compile(r"(?<![\w/.])([A-Za-z_]\w*)/([A-Za-z_]\w*)(?![\w/])")
_BRANCH = re.compile(r"^[ \t]*add[ \t]+Branch[ \t]+(\S+)/(\S+)[ \t]+(\S+)[ \t]+(\S+)[ \t]*(?:#.*)?$", re.MULTILINE)
_COMMENT = re.compile(r"^[ \t]*#.*$", re.MULTILINE)


class CardError(ValueError):
    """A card that cannot be trimmed: the message names the problem."""


@dataclass
class Module:
    cls: str
    name: str
    body: str  # the text between the block's braces
    start: int  # offsets of the body in the card text
    end: int
    needs: set[str] = field(default_factory=set)  # modules of the card this one reads from


@dataclass
class Branch:
    module: str
    array: str
    name: str
    cls: str
    start: int  # offsets of the whole ``add Branch`` line in the card text
    end: int


@dataclass
class Card:
    text: str
    path: list[str]  # ExecutionPath, in order
    path_span: tuple[int, int]  # offsets of the ExecutionPath list's body
    modules: dict[str, Module]
    writer: str  # name of the TreeWriter module of the path
    branches: list[Branch]


@dataclass
class Trimmed:
    text: str
    kept: list[str]  # modules of the trimmed ExecutionPath
    dropped: list[str]  # modules removed from the ExecutionPath
    unneeded_kept: list[str]  # modules nothing kept reads, kept because their class is not droppable
    branches: list[str]  # TreeWriter branches written
    dropped_branches: list[str]


def _closing_brace(text: str, open_at: int) -> int:
    """Offset of the ``}`` closing the ``{`` at ``open_at`` (Tcl: backslash-escaped braces do not count)."""
    depth, i = 0, open_at
    while i < len(text):
        c = text[i]
        if c == "\\":
            i += 2
            continue
        if c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise CardError(f"unbalanced braces in the block starting at offset {open_at}")


def parse_card(text: str) -> Card:
    """The ExecutionPath, module blocks and TreeWriter branches of a Delphes card."""
    m = _PATH.search(text)
    if m is None:
        raise CardError("no `set ExecutionPath {...}`")
    close = _closing_brace(text, m.end() - 1)
    path = text[m.end():close].split()  # a Tcl list: no comments in it
    if len(set(path)) != len(path):
        raise CardError("a module appears twice in the ExecutionPath")
    modules = {}
    for mm in _MODULE.finditer(text):
        end = _closing_brace(text, mm.end() - 1)
        cls, name = mm.group(1), mm.group(2)
        modules[name] = Module(cls, name, text[mm.end():end], mm.end(), end)
    writers = [n for n in path if n in modules and modules[n].cls == WRITER_CLASS]
    if len(writers) != 1:
        raise CardError(f"{len(writers)} TreeWriter modules in the ExecutionPath, one expected")
    writer = modules[writers[0]]
    branches = [Branch(b.group(1), b.group(2), b.group(3), b.group(4), writer.start + b.start(), writer.start + b.end())
                for b in _BRANCH.finditer(writer.body)]
    branch_lines = _BRANCH.sub("", writer.body)
    for mod in modules.values():
        body = _COMMENT.sub("", branch_lines if mod is writer else mod.body)
        mod.needs = {r.group(1) for r in _REFERENCE.finditer(body) if r.group(1) in modules and r.group(1) != mod.name}
    return Card(text, path, (m.end(), close), modules, writer.name, branches)


def trim_card(text: str, branches=NTUPLE_BRANCHES) -> Trimmed:
    """``text`` with only the TreeWriter ``branches`` and the modules they need (see the module's docstring).

    A branch asked for that the card does not write, or whose module is not in the ExecutionPath,
    is a :class:`CardError`.
    """
    card = parse_card(text)
    wanted = list(dict.fromkeys(branches))
    written = {b.name: b for b in card.branches}
    missing = [b for b in wanted if b not in written]
    if missing:
        raise CardError(f"the TreeWriter writes no branch {', '.join(missing)} "
                        f"(it writes {', '.join(written) or 'none'})")
    keep_branches = [written[b] for b in wanted]
    in_path = set(card.path)
    unknown = sorted(b.module for b in keep_branches if b.module != READER and b.module not in in_path)
    if unknown:
        raise CardError(f"branches of {', '.join(unknown)}, a module not in the ExecutionPath")

    def cls(name: str) -> str | None:
        return card.modules[name].cls if name in card.modules else None

    roots = {card.writer} | {b.module for b in keep_branches if b.module != READER}
    needed = _closure(card, roots)
    while True:  # keep what must run although nothing written reads it, and what that reads, until nothing changes
        last = max((i for i, n in enumerate(card.path) if n in needed and n != card.writer), default=-1)
        more = {n for i, n in enumerate(card.path) if n not in needed and not _droppable(cls(n), i > last)}
        if not more:
            break
        needed = _closure(card, needed | more)
    absent = sorted(n for n in needed if n not in in_path)
    if absent:
        raise CardError(f"modules {', '.join(absent)} are read but not in the ExecutionPath")
    kept = [n for n in card.path if n in needed]
    dropped = [n for n in card.path if n not in needed]
    unneeded_kept = [n for n in kept if n not in _closure(card, roots)]

    keep_lines = {id(b) for b in keep_branches}
    cuts = [(b.start, b.end + (text[b.end:b.end + 1] == "\n"), "") for b in card.branches if id(b) not in keep_lines]
    cuts.append((*card.path_span, "".join(f"\n  {n}" for n in kept) + "\n"))
    if dropped:  # before the list (a Tcl list holds no comments)
        line = text.rfind("\n", 0, card.path_span[0]) + 1
        cuts.append((line, line, f"# trimmed to the branches {' '.join(wanted)}; not run: {' '.join(dropped)}\n"))
    out = text
    for start, end, new in sorted(cuts, reverse=True):
        out = out[:start] + new + out[end:]
    return Trimmed(out, kept, dropped, unneeded_kept, [b.name for b in keep_branches],
                   [b.name for b in card.branches if id(b) not in keep_lines])


def _droppable(cls: str | None, after_kept: bool) -> bool:
    """A module of class ``cls`` nothing kept reads may go: it draws no random number, changes no input,
    and creates no candidate or runs after every kept module (``after_kept``)."""
    return cls in DROPPABLE_CLASSES and (cls in NO_NEW_CANDIDATES or after_kept)


def _closure(card: Card, roots: set[str]) -> set[str]:
    """``roots`` and every module they read from, transitively."""
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        if name in card.modules:
            todo.extend(card.modules[name].needs - seen)
    return seen
