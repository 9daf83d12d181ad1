"""Runs a command that must fail like quant-run does on bad input.

  expect_error.py CODE COMMAND...

Passes (exit 0) when COMMAND exits with status CODE and writes exactly one
line to stderr, starting with "quant-run: "; that line is printed on stdout
for FileCheck. Anything else (another status, a crash, several lines, a
Python traceback) fails with a description.
"""

import subprocess
import sys


def main(argv):
    code, command = int(argv[0]), argv[1:]
    p = subprocess.run(command, capture_output=True, text=True)
    lines = p.stderr.splitlines()
    if p.returncode != code:
        sys.exit(f"expect_error: exit status {p.returncode}, want {code}; stderr:\n{p.stderr}")
    if len(lines) != 1 or not lines[0].startswith("quant-run: "):
        sys.exit(f"expect_error: want one 'quant-run: ' line on stderr, got:\n{p.stderr}")
    print(lines[0])


if __name__ == "__main__":
    main(sys.argv[1:])
