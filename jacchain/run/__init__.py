"""Running plans on real arrays: factors, Jacobians, the executor, timing, calibration."""
