#!/usr/bin/env python3
"""docs/ARCHITECTURE.md's table "Where each entry point lives" against the code: each
listed function is defined in the listed file, and every function of the plugin table
(include/vkstruct/plugin.h) is listed."""
import re
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
doc = (root / "docs/ARCHITECTURE.md").read_text()
section = doc.split("## Where each entry point lives", 1)[1].split("\n## ", 1)[0]
listed = {}
for file, funcs in re.findall(r"^\| `([^`]+\.c)` \| (.+) \|$", section, re.M):
    for fn in re.findall(r"`(vks_\w+)`", funcs):
        listed[fn] = file
table = set(re.findall(r"^\s+X\((vks_\w+)\)", (root / "include/vkstruct/plugin.h").read_text(), re.M))
table.add("vks_plugin_get_api")
errors = [f"{fn} is in the plugin table but not in ARCHITECTURE.md's table" for fn in sorted(table - listed.keys())]
for fn, file in sorted(listed.items()):
    path = root / file
    text = path.read_text() if path.exists() else ""
    if not re.search(r"^[A-Za-z_][\w \*]*\b" + fn + r"\(", text, re.M):
        errors.append(f"{fn} is not defined in {file}")
for e in errors:
    print("check_entry_points:", e)
print(f"check_entry_points: {len(listed)} functions checked, {len(errors)} disagreements")
sys.exit(1 if errors else 0)
