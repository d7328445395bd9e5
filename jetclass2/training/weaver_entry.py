"""weaver-core's ``weaver`` command, with local ROOT files read through memory maps.

uproot's default source for local files (fsspec) reads through an asyncio thread pool. weaver prefetches
the next chunk of data in a background thread, and when training ends while such a prefetch is in flight
the interpreter's shutdown refuses the pool's new tasks: weaver then logs a "cannot schedule new futures
after shutdown" traceback for a harmless, discarded read. Memory-mapped reads need no thread pool.
DataLoader workers are forked from this process and inherit the setting.

Usage: python -m jetclass2.training.weaver_entry WEAVER_ARGS...  (or torchrun ... -m jetclass2.training.weaver_entry ...)
"""
import os

import uproot

# onnxruntime (weaver's ONNX evaluation) otherwise writes a telemetry device id under ~/.cache on import
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
uproot.reading.open.defaults["handler"] = uproot.MemmapSource

from weaver.train import main  # noqa: E402

if __name__ == "__main__":
    main()
