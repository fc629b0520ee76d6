"""Memory redundancy of VOS key features (``vosbench redundancy``).

- ``histogram``: exact cosine histograms in bounded memory (pairs within a set, best
  match of each row against another set);
- ``em``: a frame compressed to EM bases with SWEM's own EM;
- ``matching``: SWEM's memory run with masks, each frame matched to the bases so far;
- ``variation``: SwiftNet's variation-aware trigger, frame by frame;
- ``bank``: redundancy inside a growing periodic (STCN) bank;
- ``grid``: a frame's colour and masks on the key grid;
- ``analysis``: all of them over one sequence's features; ``run``: over a dataset, into
  an output folder; ``summary``: the headline fractions; ``figures``: the paper-style
  figures, from the tables alone.
"""
