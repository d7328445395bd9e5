"""An uproot without the private internals the project patches stops with one line naming its version."""
import datetime
import sys

import pytest
import uproot
import uproot.writing._cascade
import uproot.writing._cascadetree

from jetclass2 import rootfile
from jetclass2.packing import rootwriter
from jetclass2.uproot_internals import SUPPORTED, UnsupportedUproot


def test_installed_uproot_is_supported_and_declared():
    rootfile.check_uproot()
    rootwriter.check_uproot()
    major_minor = tuple(int(x) for x in uproot.__version__.split(".")[:2])
    assert (5, 7) <= major_minor < (5, 8), f"uproot {uproot.__version__} outside {SUPPORTED}"


@pytest.mark.parametrize("check,owner,name,missing", [
    (rootwriter.check_uproot, uproot.writing._cascadetree.Tree, "write_np_basket",
     "uproot.writing._cascadetree.Tree.write_np_basket"),
    (rootwriter.check_uproot, uproot.models.TBasket, "_tbasket_format2", "uproot.models.TBasket._tbasket_format2"),
    (rootfile.check_uproot, uproot.writing, "_cascade", "uproot.writing._cascade"),
])
def test_missing_internal_is_named_with_uproot_version(monkeypatch, check, owner, name, missing):
    monkeypatch.delattr(owner, name)
    if name == "_cascade":  # a submodule: gone from the package and from the import system
        monkeypatch.delitem(sys.modules, "uproot.writing._cascade")
        monkeypatch.setattr("importlib.import_module", _no_import)
    with pytest.raises(UnsupportedUproot) as err:
        check()
    message = str(err.value)
    assert "\n" not in message
    assert message.startswith(f"uproot {uproot.__version__} is not supported: ") and missing in message
    assert f"uproot{SUPPORTED}" in message


def _no_import(name, *args, **kwargs):
    raise ImportError(name)


def test_clock_read_differently_is_unsupported(monkeypatch):
    """uproot reading the time through another name than the datetime module: the files would not be reproducible."""
    monkeypatch.setattr(uproot.writing._cascade, "datetime", datetime.datetime)
    with pytest.raises(UnsupportedUproot, match=r"needs uproot\.writing\._cascade\.datetime \(the datetime module\)"):
        rootfile.check_uproot()


def test_tree_internals_are_checked_when_writing():
    class Bare:  # a tree object of an uproot whose Tree keeps its basket bookkeeping elsewhere
        pass

    with pytest.raises(UnsupportedUproot, match=r"needs .*Bare\._branch_data"):
        rootwriter._install_fast_baskets(Bare())
