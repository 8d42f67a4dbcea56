"""Make the chart helpers in ``_kube.py`` importable as ``deploy_kube``.

The suite runs with ``--import-mode=importlib``, so sibling modules are not on
``sys.path``; pytest imports this conftest before the test modules of this folder.
"""
import importlib.util
import sys
from pathlib import Path

if "deploy_kube" not in sys.modules:
    _spec = importlib.util.spec_from_file_location("deploy_kube", Path(__file__).with_name("_kube.py"))
    _module = importlib.util.module_from_spec(_spec)
    sys.modules["deploy_kube"] = _module
    _spec.loader.exec_module(_module)
