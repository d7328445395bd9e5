"""``python -m jetclass2.packing COMMAND ...``: the packing console scripts without installed entry points
(the workflow rules call them this way, so a checkout works before ``pip install``).

COMMAND: pack, plan, scatter, gather, tarball, finalize, verify.
"""
import sys

from . import cli

COMMANDS = {"pack": cli.main, "plan": cli.plan_main, "scatter": cli.scatter_main, "gather": cli.gather_main,
            "tarball": cli.tarball_main, "finalize": cli.finalize_main, "verify": cli.verify_main}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: python -m jetclass2.packing {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
