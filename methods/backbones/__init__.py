"""Backbones written here, with torchvision's state-dict names so official checkpoints load."""
