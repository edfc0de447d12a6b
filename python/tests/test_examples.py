"""Each example runs as a user runs it (its own checks end it with a failing status) within
a time limit."""
import importlib.util
import os
import subprocess
import sys
import time

import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")
NEEDS = {"monarch_from_dense.py": ["torch"], "peft_adapter_served.py": ["torch", "peft"],
         "muon_mlp.py": ["torch"], "gp_grid.py": ["scipy"]}


@pytest.mark.parametrize("name", sorted(NEEDS))
def test_example(name):
    missing = [m for m in NEEDS[name] if importlib.util.find_spec(m) is None]
    if missing:
        print(f"SKIP {name}: {', '.join(missing)} not installed")
        pytest.skip(f"{name} needs {', '.join(missing)}")
    t = time.time()
    run = subprocess.run([sys.executable, os.path.join(EXAMPLES, name)], capture_output=True, text=True,
                         timeout=600)
    print(f"{name}: {time.time() - t:.1f} s\n{run.stdout}")
    assert run.returncode == 0, run.stdout + run.stderr
