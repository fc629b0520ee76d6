"""Reports: comparison figures and tables from run and redundancy directories."""
