"""Test setup shared by every module: ``tests/`` on ``sys.path`` so ``import naive`` works
under any pytest import mode."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
