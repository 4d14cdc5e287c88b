"""Headless subcommands of the `rnxstudio` CLI; each module has add_arguments(parser) and run(args)."""


class CliError(Exception):
    """A user-facing error: printed by the CLI as one line, exit status 2."""
