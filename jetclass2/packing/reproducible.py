"""Fixed time stamps of the packing outputs that are not ROOT files.

The packed ROOT files get their reproducible bytes from :class:`jetclass2.rootfile.ReproducibleFile`
(UUID from the file name, uproot's clock stopped; see :mod:`jetclass2.packing.rootwriter`); the tarballs give
every member the modification time :data:`FIXED_EPOCH`, so the same files give the same tarball.
"""
FIXED_EPOCH = 946684800  # 2000-01-01 00:00:00 UTC: tarball member times
