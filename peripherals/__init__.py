"""Device protocols, drivers and simulators: one sub-package per device kind (the peripherals issue)."""
