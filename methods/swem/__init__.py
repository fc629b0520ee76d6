"""SWEM (Lin et al., "SWEM: Towards Real-Time Video Object Segmentation with
Sequential Weighted Expectation-Maximization", CVPR 2022)."""
