"""Small kinematics helpers shared by the stages (numpy; numba kernels keep their own inline copy)."""
from __future__ import annotations

import numpy as np


def wrap_phi(phi):
    """Angle wrapped to [-pi, pi)."""
    return np.mod(np.asarray(phi, dtype=np.float64) + np.pi, 2.0 * np.pi) - np.pi
