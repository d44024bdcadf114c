"""Simulated control plane: deployment and replica set controllers, scheduler, kubelet, PVC binder and
garbage collector, driven by storage events through `ControllerManager`."""

from kubesim.controllers.manager import ControllerManager

__all__ = ["ControllerManager"]
