"""One module per ``consensus`` subcommand; each has ``register(subparsers)`` and ``run(args)``."""
