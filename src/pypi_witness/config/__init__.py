"""The node's configuration file: the whole file (``node``), its sections and value checks,
the trust policy file, and a federation's configurations made in one go."""
