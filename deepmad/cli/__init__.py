"""The ``deepmad`` command line: a thin layer of subcommand classes over the library."""
