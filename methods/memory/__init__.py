"""Memory policies, one file each: periodic bank, pixel-adaptive memory, EM bases."""
