"""Pure metric functions (numpy in, floats out): calibration, OOD detection, ..."""
