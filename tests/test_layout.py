"""The library does not reach up into the launcher: `zoo/` imports nothing of `launch/`."""
import ast
import glob
import os

from conftest import ROOT


def test_zoo_never_imports_launch():
  offenders = []
  for path in glob.glob(os.path.join(ROOT, "zoo", "**", "*.py"), recursive=True):
    with open(path) as f:
      tree = ast.parse(f.read())
    for node in ast.walk(tree):
      names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
          [node.module or ""] if isinstance(node, ast.ImportFrom) else []
      offenders += [f"{os.path.relpath(path, ROOT)}: {n}" for n in names
                    if n == "launch" or n.startswith("launch.")]
  assert not offenders
